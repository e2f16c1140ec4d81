using Microsoft.Extensions.Logging;

namespace Flowline.Api;

internal static partial class ApiLog
{
    [LoggerMessage(178, LogLevel.Error, "{Method} {Path}: the store failed ({Problem}); answered 503", EventName = "store-unavailable")]
    public static partial void StoreUnavailable(ILogger log, string method, string path, string problem);
}
