using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Flowline.Api;

/// <summary>
/// The admin password that lets an admin key read other accounts, kept only as a salted PBKDF2-SHA256 hash:
/// <c>pbkdf2-sha256$ITERATIONS$SALT$HASH</c> (base64). A password once verified is remembered for a few
/// minutes by its SHA-256, so a client's many windows do not each pay for the slow hash.
/// </summary>
public sealed class AdminPassword
{
    /// <summary>PBKDF2-SHA256 rounds for a new hash: what OWASP asks for this hash (2023).</summary>
    public const int DefaultIterations = 600_000;
    private readonly int _iterations;
    private readonly byte[] _salt;
    private readonly byte[] _hash;
    private readonly ConcurrentDictionary<string, long> _recent = new(StringComparer.Ordinal);

    private AdminPassword(int iterations, byte[] salt, byte[] hash) => (_iterations, _salt, _hash) = (iterations, salt, hash);

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, 32);
        return $"pbkdf2-sha256${iterations.ToString(CultureInfo.InvariantCulture)}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>Reads a hash written by <see cref="Hash"/>; throws FormatException with what is wrong.</summary>
    public static AdminPassword Parse(string text)
    {
        var parts = text.Trim().Split('$');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256")
        {
            throw new FormatException("admin_password_hash: expected pbkdf2-sha256$ITERATIONS$SALT$HASH (make one with `flowline keys hash-password`)");
        }
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 10_000)
        {
            throw new FormatException($"admin_password_hash: '{parts[1]}' is not an iteration count of at least 10000");
        }
        try
        {
            var salt = Convert.FromBase64String(parts[2]);
            var hash = Convert.FromBase64String(parts[3]);
            if (salt.Length < 8 || hash.Length != 32) throw new FormatException("admin_password_hash: the salt or the hash has the wrong length");
            return new AdminPassword(iterations, salt, hash);
        }
        catch (FormatException e) when (e.Message.StartsWith("The input", StringComparison.Ordinal))
        {
            throw new FormatException("admin_password_hash: the salt or the hash is not base64", e);
        }
    }

    public bool Verify(string password)
    {
        var now = Environment.TickCount64;
        var digest = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(password)));
        if (_recent.TryGetValue(digest, out var until) && until > now) return true;
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, _salt, _iterations, HashAlgorithmName.SHA256, 32);
        if (!CryptographicOperations.FixedTimeEquals(hash, _hash)) return false;
        if (_recent.Count > 64) _recent.Clear();
        _recent[digest] = now + 300_000;
        return true;
    }
}
