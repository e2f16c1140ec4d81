// JCS flow logs (seed 000's DescribeFlowLog) from the page: the range cut into windows of at most 30 minutes, each
// asked with signature version 2 in its parameters, the items joined in setup-time order into one document of the
// response's shape (as `flowline describe-flow-logs` writes it).
import { session, ApiError } from './api.js';

const WINDOW = 30 * 60 * 1000;
const MAX_ITEMS = 500000;

/** The server's jcs_time_zone, from the page: a fixed offset ("+05:30") or an IANA id. */
const zone = () => (document.querySelector('meta[name="flowline-jcs-time-zone"]') || {}).content || '+05:30';

/** "dd-mm-yyyy hh:mm:ss" in the server's JCS time zone, as DescribeFlowLog takes start_time and end_time. */
export function jcsTime(date, z) {
  const tz = z || zone();
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(tz);
  let p;
  if (m) {
    const shifted = new Date(date.getTime() + (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60000);
    p = { day: shifted.getUTCDate(), month: shifted.getUTCMonth() + 1, year: shifted.getUTCFullYear(), hour: shifted.getUTCHours(), minute: shifted.getUTCMinutes(), second: shifted.getUTCSeconds() };
  } else {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(date);
    p = Object.fromEntries(parts.filter(x => x.type !== 'literal').map(x => [x.type, Number(x.value)]));
  }
  const two = n => String(n).padStart(2, '0');
  return `${two(p.day)}-${two(p.month)}-${p.year} ${two(p.hour)}:${two(p.minute)}:${two(p.second)}`;
}

/**
 * Every DescribeFlowLog item of [from, to): progress(done, total) after each window. The key's own account, or
 * with an admin key reading all accounts ('*') every account (the admin password in its header).
 */
export async function describeFlowLogs(from, to, progress) {
  if (session.scope && session.scope !== '*' && session.scope !== session.account) {
    // DescribeFlowLog reads another single account one direction at a time.
    throw new ApiError(0, 'OneDirection', `JCS flow logs of ${session.scope}: DescribeFlowLog takes account with direction_ing; use flowline describe-flow-logs -a ${session.scope} -d 0|1, or read all accounts (*)`);
  }
  const windows = [];
  for (let t = from.getTime(); t < to.getTime(); t += WINDOW) windows.push([new Date(t), new Date(Math.min(t + WINDOW, to.getTime()))]);
  const items = [];
  let requestId = '';
  for (let i = 0; i < windows.length; i++) {
    const [a, b] = windows[i];
    const params = [['Version', '2016-03-01'], ['Action', 'DescribeFlowLog'], ['start_time', jcsTime(a)], ['end_time', jcsTime(b)]];
    const query = await window.flowlineSign.signAction(session.id, session.secret, location.host, params);
    const headers = {};
    if (session.admin && session.scope === '*' && session.password) headers['X-Flowline-Admin-Password'] = session.password;
    const response = await fetch('/?' + query, { headers, cache: 'no-store' });
    const doc = await response.json().catch(() => null);
    if (!response.ok || !doc || !doc.DescribeFlowLogResponse) {
      const e = doc && doc.Response && doc.Response.Errors && doc.Response.Errors.Error;
      throw new ApiError(response.status, e ? e.Code : 'HttpError', `DescribeFlowLog ${jcsTime(a)} to ${jcsTime(b)}: ${e ? e.Message : response.status}`);
    }
    requestId = doc.DescribeFlowLogResponse.requestId;
    const value = doc.DescribeFlowLogResponse.value;
    const got = value && value.item ? (Array.isArray(value.item) ? value.item : [value.item]) : [];
    for (const item of got) items.push(item);
    if (items.length > MAX_ITEMS) throw new ApiError(0, 'TooMany', `more than ${MAX_ITEMS.toLocaleString('en-US')} flow logs: narrow the range, or use flowline describe-flow-logs`);
    if (progress) progress(i + 1, windows.length);
  }
  items.sort((x, y) => (BigInt(x.setupTime || 0) < BigInt(y.setupTime || 0) ? -1 : BigInt(x.setupTime || 0) > BigInt(y.setupTime || 0) ? 1 : 0));
  return { DescribeFlowLogResponse: { '@xmlns': `http://${location.host}/doc/2016-03-01/`, requestId, value: { item: items } } };
}
