// Signs /api/v1 requests as Flowline expects (docs/API.md): HMAC-SHA256 with the key's secret over
// METHOD \n PATH \n SORTED-QUERY \n TIMESTAMP \n hex(SHA-256(body)) \n NONCE, sent in
// "Authorization: FLOWLINE-HMAC-SHA256 Credential=KEY, Timestamp=T, Nonce=N, Signature=HEX".
// Uses only WebCrypto, so it runs in a browser (secure context: https or localhost) and in Node.
(function (root) {
  'use strict';
  const subtle = root.crypto.subtle;
  const utf8 = new TextEncoder();

  // RFC 3986: everything but A-Z a-z 0-9 - _ . ~ percent-encoded, uppercase hex, as the server does.
  function encode(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  }

  function canonicalQuery(params) {
    const sorted = params.slice().sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
    return sorted.map(([k, v]) => encode(k) + '=' + encode(v)).join('&');
  }

  const hex = buffer => Array.from(new Uint8Array(buffer), b => b.toString(16).padStart(2, '0')).join('');

  function timestamp(date) {
    return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  // method: "GET"; path: "/api/v1/flows"; params: [[name, value], ...]; body: string ("" for none).
  async function sign(keyId, secret, method, path, params, body, now) {
    const t = timestamp(now || new Date());
    const nonce = hex(root.crypto.getRandomValues(new Uint8Array(12)));
    const bodyHash = hex(await subtle.digest('SHA-256', utf8.encode(body || '')));
    const text = [method, path, canonicalQuery(params), t, bodyHash, nonce].join('\n');
    const key = await subtle.importKey('raw', utf8.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const signature = hex(await subtle.sign('HMAC', key, utf8.encode(text)));
    return {
      authorization: `FLOWLINE-HMAC-SHA256 Credential=${keyId}, Timestamp=${t}, Nonce=${nonce}, Signature=${signature}`,
      query: params.map(([k, v]) => encode(k) + '=' + encode(v)).join('&'),
    };
  }

  // The Action API's signature version 2 (DescribeFlowLog): the parameters plus JCSAccessKeyId, SignatureVersion,
  // SignatureMethod and Timestamp, signed as base64(HMAC-SHA256(secret, "GET\nHOST\n/\n" + sorted query)).
  // Answers the query string to send. params: [[name, value], ...]; host: "collector:8008".
  async function signAction(keyId, secret, host, params, now) {
    const all = params.filter(([k]) => !['JCSAccessKeyId', 'SignatureVersion', 'SignatureMethod', 'Timestamp', 'Signature'].includes(k))
      .concat([['JCSAccessKeyId', keyId], ['SignatureVersion', '2'], ['SignatureMethod', 'HmacSHA256'], ['Timestamp', timestamp(now || new Date())]]);
    const key = await subtle.importKey('raw', utf8.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = new Uint8Array(await subtle.sign('HMAC', key, utf8.encode(['GET', host, '/', canonicalQuery(all)].join('\n'))));
    const signature = btoa(String.fromCharCode(...mac));
    return all.concat([['Signature', signature]]).map(([k, v]) => encode(k) + '=' + encode(v)).join('&');
  }

  root.flowlineSign = { sign, signAction, encode, canonicalQuery };
})(typeof window !== 'undefined' ? window : globalThis);
