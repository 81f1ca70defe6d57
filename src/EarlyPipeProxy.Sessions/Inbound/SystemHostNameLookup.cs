using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using EarlyPipeProxy.Protocol.ClientIdentity;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// The client's names as Postfix's smtpd_peer.c finds them, through the same C library calls: getnameinfo() with
/// NI_NAMEREQD for the PTR name, then getaddrinfo() of that name in the client's address family, which must give the
/// client's address back. So /etc/hosts, nsswitch.conf and resolv.conf answer exactly as they do for Postfix on the
/// same host. Blocking, for as long as the C library takes (resolv.conf's timeout × attempts × servers): call it only
/// from <see cref="ClientNameResolver"/>'s own threads.
/// </summary>
internal static class SystemHostNameLookup
{
    // glibc and musl values (netdb.h).
    private const int NiNameRequired = 8;
    private const int EaiAgain = -3;
    private const int EaiMemory = -10;
    private const int EaiSystem = -11;

    // Linux sa_family values and struct sizes (as in OriginalDestination).
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;
    private const int SockaddrInLength = 16;
    private const int SockaddrIn6Length = 28;

    // struct addrinfo on 64-bit Linux: ai_flags, ai_family, ai_socktype, ai_protocol (ints), ai_addrlen (socklen_t,
    // then padding), ai_addr, ai_canonname, ai_next (pointers).
    private const int AddrInfoLength = 48;
    private const int AddrInfoFamilyOffset = 4;
    private const int AddrInfoSockTypeOffset = 8;
    private const int AddrInfoAddrOffset = 24;
    private const int AddrInfoNextOffset = 40;
    private const int SockStream = 1;

    // NI_MAXHOST is 1025; Postfix's buffer is the same size.
    private const int HostBufferLength = 1025;

    /// <summary>Whether this platform's C library is called directly (64-bit Linux); elsewhere .NET's synchronous lookups stand in.</summary>
    public static bool UsesCLibrary => OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    public static ClientHostNames Lookup(IPAddress address)
    {
        address = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return UsesCLibrary ? LookupWithCLibrary(address) : LookupWithDotNet(address);
    }

    /// <summary>Postfix's TEMP_AI_ERROR: these failures mean "ask again later" (450), every other one "no name" (550).</summary>
    private static bool FailedForNow(int error) => error is EaiAgain or EaiMemory or EaiSystem;

    private static ClientHostNames LookupWithCLibrary(IPAddress address)
    {
        var sockaddr = ToSockaddr(address);
        var host = new byte[HostBufferLength];
        var error = GetNameInfo(sockaddr, (uint)sockaddr.Length, host, (uint)host.Length, IntPtr.Zero, 0, NiNameRequired);
        if (error != 0)
        {
            return FailedForNow(error) ? ClientHostNames.LookupFailedForNow : ClientHostNames.None;
        }

        var name = System.Text.Encoding.UTF8.GetString(host, 0, Math.Max(0, Array.IndexOf(host, (byte)0)));

        // Postfix (sockaddr_to_hostname) counts a numeric or malformed PTR name as no name at all.
        if (!HostNameSyntax.IsValid(name))
        {
            return ClientHostNames.None;
        }

        var hints = new byte[AddrInfoLength];
        BinaryPrimitives.WriteInt32LittleEndian(hints.AsSpan(AddrInfoFamilyOffset), address.AddressFamily == AddressFamily.InterNetwork ? AfInet : AfInet6);
        BinaryPrimitives.WriteInt32LittleEndian(hints.AsSpan(AddrInfoSockTypeOffset), SockStream);
        error = GetAddrInfo(name, IntPtr.Zero, hints, out var list);
        if (error != 0)
        {
            return ClientHostNames.Unverified(name, FailedForNow(error));
        }

        try
        {
            for (var entry = list; entry != IntPtr.Zero; entry = Marshal.ReadIntPtr(entry, AddrInfoNextOffset))
            {
                if (Equals(FromSockaddr(Marshal.ReadIntPtr(entry, AddrInfoAddrOffset)), address))
                {
                    return ClientHostNames.Verified(name);
                }
            }
        }
        finally
        {
            FreeAddrInfo(list);
        }

        return ClientHostNames.Unverified(name, failedForNow: false);
    }

    private static byte[] ToSockaddr(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var v4 = new byte[SockaddrInLength];
            BinaryPrimitives.WriteUInt16LittleEndian(v4, AfInet);
            address.TryWriteBytes(v4.AsSpan(4, 4), out _);
            return v4;
        }

        var v6 = new byte[SockaddrIn6Length];
        BinaryPrimitives.WriteUInt16LittleEndian(v6, AfInet6);
        address.TryWriteBytes(v6.AsSpan(8, 16), out _);
        BinaryPrimitives.WriteUInt32LittleEndian(v6.AsSpan(24), (uint)address.ScopeId);
        return v6;
    }

    private static IPAddress? FromSockaddr(IntPtr sockaddr)
    {
        if (sockaddr == IntPtr.Zero)
        {
            return null;
        }

        var family = (ushort)Marshal.ReadInt16(sockaddr);
        if (family is not (AfInet or AfInet6))
        {
            return null;
        }

        var bytes = new byte[family == AfInet ? 4 : 16];

        Marshal.Copy(sockaddr + (family == AfInet ? 4 : 8), bytes, 0, bytes.Length);
        return new IPAddress(bytes);
    }

    /// <summary>
    /// Elsewhere (development machines): the same two steps with .NET's synchronous calls, which call the platform's
    /// getnameinfo/getaddrinfo on this thread. Less exact: a failure's kind is told by .NET's mapping of it.
    /// </summary>
    private static ClientHostNames LookupWithDotNet(IPAddress address)
    {
        string name;
        try
        {
            name = Dns.GetHostEntry(address).HostName;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode == SocketError.TryAgain ? ClientHostNames.LookupFailedForNow : ClientHostNames.None;
        }

        if (!HostNameSyntax.IsValid(name))
        {
            return ClientHostNames.None;
        }

        try
        {
            return Dns.GetHostAddresses(name, address.AddressFamily).Any(a => a.Equals(address))
                ? ClientHostNames.Verified(name)
                : ClientHostNames.Unverified(name, failedForNow: false);
        }
        catch (SocketException ex)
        {
            return ClientHostNames.Unverified(name, ex.SocketErrorCode == SocketError.TryAgain);
        }
    }

    [DllImport("libc", EntryPoint = "getnameinfo")]
    private static extern int GetNameInfo(byte[] sockaddr, uint sockaddrLength, [Out] byte[] host, uint hostLength, IntPtr service, uint serviceLength, int flags);

    [DllImport("libc", EntryPoint = "getaddrinfo")]
    private static extern int GetAddrInfo([MarshalAs(UnmanagedType.LPUTF8Str)] string node, IntPtr service, byte[] hints, out IntPtr result);

    [DllImport("libc", EntryPoint = "freeaddrinfo")]
    private static extern void FreeAddrInfo(IntPtr addrInfo);
}
