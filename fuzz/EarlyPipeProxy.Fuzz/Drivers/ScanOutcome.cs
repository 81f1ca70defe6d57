using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>One scanner result in absolute body offsets; <paramref name="BufferStart"/> is where that call's buffer began.</summary>
internal readonly record struct ScanOutcome(DataScanStatus Status, long Position, long BufferStart);
