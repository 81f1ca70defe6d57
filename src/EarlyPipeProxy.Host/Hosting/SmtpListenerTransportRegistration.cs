using System.Net;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Puts the SMTP listeners on our own transport (<see cref="SmtpListenerTransport"/>): registered after Kestrel's socket
/// transport, so that Kestrel asks it first, and it claims only the listeners' addresses.
/// </summary>
public static class SmtpListenerTransportRegistration
{
    public static IServiceCollection AddSmtpListenerTransport(this IServiceCollection services, IReadOnlyDictionary<IPEndPoint, object> listenerFeatures)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(listenerFeatures);
        services.AddOptions<SmtpListenerTransportOptions>();
        return services.AddSingleton<IConnectionListenerFactory>(provider =>
            new SmtpListenerTransport(provider.GetRequiredService<IOptions<SmtpListenerTransportOptions>>().Value, listenerFeatures));
    }
}
