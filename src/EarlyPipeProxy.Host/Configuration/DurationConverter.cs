using System.ComponentModel;
using System.Globalization;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// The configuration binder converts strings through <see cref="TypeDescriptor"/>: registered for <see cref="TimeSpan"/>
/// (<see cref="Register"/>), every TimeSpan option reads <see cref="Duration"/>'s forms.
/// </summary>
public sealed class DurationConverter : TimeSpanConverter
{
    private static int _registered;

    /// <summary>Process-wide and idempotent: makes every TimeSpan conversion from configuration go through <see cref="Duration"/>.</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            TypeDescriptor.AddAttributes(typeof(TimeSpan), new TypeConverterAttribute(typeof(DurationConverter)));
        }
    }

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? Duration.Parse(text) : base.ConvertFrom(context, culture, value);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        value is TimeSpan span && destinationType == typeof(string) ? Duration.Format(span) : base.ConvertTo(context, culture, value, destinationType);
}
