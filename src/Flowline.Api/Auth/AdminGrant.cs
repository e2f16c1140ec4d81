using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// The second factor of an admin key, in one place for every face: a request that reaches beyond the key's
/// own account is granted only to an admin key with the admin password (<c>X-Flowline-Admin-Password</c>);
/// every grant and every refusal is audited, and a refusal counts as a failure against the caller's address.
/// </summary>
public sealed class AdminGrant(RequestGuard guard, AuditLog audit, ApiOptions options)
{
    public const string PasswordHeader = "X-Flowline-Admin-Password";

    /// <summary>Null when granted (audited); else the refusal (audited, counted).</summary>
    /// <param name="what">The audit event (e.g. <c>flows.read</c>).</param>
    /// <param name="target">What the request reaches (an account, all accounts, a resource).</param>
    /// <param name="tenantRefusal">How the refusal of a tenant key ends: "the access key K belongs to A and …".</param>
    /// <param name="doing">What needs the password, for the refusals of an admin key.</param>
    public ApiError? Check(HttpContext context, AccessKey key, string what, string target, string tenantRefusal, string doing)
    {
        var password = context.Request.Headers[PasswordHeader].ToString();
        ApiError? refusal = null;
        if (!key.Admin) refusal = new ApiError(403, "UnauthorizedOperation", $"the access key {key.Id} belongs to {key.Account} and {tenantRefusal}");
        else if (options.AdminPassword is null) refusal = new ApiError(403, "UnauthorizedOperation", $"{doing} needs the admin password, and this server has none configured (admin_password_hash)");
        else if (password.Length == 0) refusal = new ApiError(403, "UnauthorizedOperation", $"{doing} with an admin key needs the admin password in {PasswordHeader}");
        else if (!options.AdminPassword.Verify(password)) refusal = new ApiError(403, "UnauthorizedOperation", "the admin password is wrong");
        if (refusal is not null)
        {
            Deny(context, key, what, target, refusal.Message);
            return refusal;
        }
        Granted(context, key, what, target);
        return null;
    }

    /// <summary>Whether the request carries the right admin password (an admin key's second factor), without auditing.</summary>
    public bool HasPassword(HttpContext context, AccessKey key) =>
        key.Admin && options.AdminPassword is { } p && context.Request.Headers[PasswordHeader].ToString() is { Length: > 0 } given && p.Verify(given);

    /// <summary>Audits a refusal and counts it as a failure against the caller's address.</summary>
    public void Deny(HttpContext context, AccessKey key, string what, string target, string reason)
    {
        var from = context.Connection.RemoteIpAddress;
        guard.Fail(from);
        audit.Write(new AuditEntry(guard.Now, what, key.Id, key.Account, target, "denied", from?.ToString() ?? "", reason));
    }

    /// <summary>Audits a granted request that reached another account.</summary>
    public void Granted(HttpContext context, AccessKey key, string what, string target) =>
        audit.Write(new AuditEntry(guard.Now, what, key.Id, key.Account, target, "granted", context.Connection.RemoteIpAddress?.ToString() ?? "",
            context.Request.Method + " " + context.Request.Path + context.Request.QueryString));
}
