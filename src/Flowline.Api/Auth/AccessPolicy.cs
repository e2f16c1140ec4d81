namespace Flowline.Api;

/// <summary>Who may open a route at all; what an answer then holds is the face's business (scoped to the key's account).</summary>
public enum Door
{
    /// <summary>Anyone: health, self-metrics, the API description, static pages.</summary>
    Open,
    /// <summary>A signed request with any key; every answer is scoped to the key's account.</summary>
    Tenant,
    /// <summary>A signed request with an admin key.</summary>
    Admin,
    /// <summary>A signed request with an admin key, and the admin password, which the face checks and audits.</summary>
    AdminPassword,
    /// <summary>A signed request with an agent key (`flowline keys create --agent ID`), which speaks for that agent only.</summary>
    Agent,
}

/// <summary>
/// A route's access policy: its <see cref="Door"/>, and the two ways besides a signature that an operator may
/// allow on the sFlow-RT face: the configured scrape token (<c>Authorization: Bearer …</c>, for Prometheus
/// reads) and any client on loopback when <c>realtime_open_on_loopback</c> is on (sFlow-RT's own behaviour).
/// <see cref="SignedInQuery"/>: the face checks a signature carried in its parameters (the JCS Action API),
/// so the door leaves the request to it.
/// </summary>
public sealed record AccessPolicy(Door Door, bool ScrapeToken = false, bool LoopbackOptIn = false, bool SignedInQuery = false)
{
    /// <summary>
    /// The route takes bodies up to <see cref="ApiOptions.MaxUploadBody"/> (an inventory, an agent's batch) instead of
    /// <see cref="ApiOptions.MaxRequestBody"/>; such a body is read only once the Authorization header names a known key
    /// with a fresh timestamp.
    /// </summary>
    public bool LargeBody { get; init; }

    public static readonly AccessPolicy Open = new(Door.Open);
    public static readonly AccessPolicy Tenant = new(Door.Tenant);
    public static readonly AccessPolicy Admin = new(Door.Admin);
    public static readonly AccessPolicy AdminPassword = new(Door.AdminPassword);
    public static readonly AccessPolicy Agent = new(Door.Agent);
    /// <summary>Reading the sFlow-RT face: an admin key, the scrape token, or loopback when opted in.</summary>
    public static readonly AccessPolicy RealtimeRead = new(Door.Admin, ScrapeToken: true, LoopbackOptIn: true);
    /// <summary>Changing the sFlow-RT face's state: an admin key, or loopback when opted in.</summary>
    public static readonly AccessPolicy RealtimeWrite = new(Door.Admin, LoopbackOptIn: true);
    /// <summary>DescribeFlowLog: signed in its parameters (signature version 2), scoped to the key's account.</summary>
    public static readonly AccessPolicy ActionSigned = new(Door.Tenant, SignedInQuery: true);

    /// <summary>How the policy reads in the API description and in errors.</summary>
    public string Name => Door switch
    {
        Door.Open => "open",
        Door.Tenant => SignedInQuery ? "tenant (signature in the parameters)" : "tenant",
        Door.Admin => "admin" + (ScrapeToken ? ", scrape token" : "") + (LoopbackOptIn ? ", loopback-opt-in" : ""),
        Door.Agent => "agent",
        _ => "admin+password",
    };
}
