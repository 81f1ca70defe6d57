using EarlyPipeProxy.Host.Cli;

// earlypipe run | check | cache | config | status | version (Cli/EarlyPipeCommandLine.cs); exit 0 done, 1 failed, 2 usage.

// Socket completions run inline on the epoll threads rather than being queued to the thread pool: one fewer
// thread hop per read, which is most of a relayed round trip's cost (bench/throughput). Safe because no session
// code blocks. Read once, when the first socket is used; an operator's own setting wins.
const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
{
    Environment.SetEnvironmentVariable(InlineCompletions, "1");
}

// With session work inline on the socket threads, the thread pool mostly takes one item per connection (Kestrel's
// dispatch of a new connection); its idle workers spinning for more cost about a tenth of the CPU under load
// (perf: LowLevelLifoSemaphore.Wait, sched_yield; bench/README.md "Cost per message"). Read when the pool starts.
const string ThreadPoolSpin = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";
if (Environment.GetEnvironmentVariable(ThreadPoolSpin) is null)
{
    Environment.SetEnvironmentVariable(ThreadPoolSpin, "0");
}

return await EarlyPipeCommandLine.InvokeAsync(args, Console.Out, Console.Error);
