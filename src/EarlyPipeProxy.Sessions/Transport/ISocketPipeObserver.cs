namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>What the owner of a <see cref="SocketPipe"/> learns from it without a delegate (one object fewer per connection).</summary>
internal interface ISocketPipeObserver
{
    /// <summary>The receive loop has ended: the peer's FIN or reset, or the socket closed here. Called once.</summary>
    void ReceiveEnded();
}
