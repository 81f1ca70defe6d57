using System.IO.Pipelines;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

internal sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;
