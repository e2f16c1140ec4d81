// Attacks and mitigations (docs/DDOS.md): the attacks on the account's addresses, the FlowSpec rules, and what the
// key may do with them: withdraw a rule, approve a pending one, block a destination by hand.
import { call, scopeParams } from '../api.js';
import { h, field, select, status } from '../dom.js';
import { objectTable, acting } from './objects.js';

export function attacks(main) {
  const state = status();
  const activeOnly = h('input', { type: 'checkbox', checked: true });
  const list = h('div', {});
  const destination = h('input', { type: 'text', required: true, size: 20, spellcheck: 'false', placeholder: '198.51.100.10' });
  const protocol = select([['', 'any'], ['6', 'TCP'], ['17', 'UDP'], ['1', 'ICMP']], '');
  const ports = h('input', { type: 'text', size: 12, placeholder: '80,443' });
  const source = h('input', { type: 'text', size: 20, placeholder: '203.0.113.0/24' });
  const action = select([['drop', 'drop'], ['rate-limit', 'rate-limit']], 'drop');
  const block = h('form', { class: 'controls', 'aria-label': 'Block by hand', onsubmit: async e => {
    e.preventDefault();
    const body = { destination: destination.value.trim(), action: action.value };
    if (protocol.value) body.protocol = Number(protocol.value);
    if (ports.value.trim()) body.destination_ports = ports.value.split(',').map(p => Number(p.trim()));
    if (source.value.trim()) body.source = source.value.trim();
    await act(() => call('POST', '/api/v1/ddos/mitigations', scopeParams(), body), 'Rule requested.');
  } }, field('Destination', destination), field('Protocol', protocol), field('Destination ports', ports), field('Source', source), field('Action', action),
  h('button', { type: 'submit' }, 'Block'));
  main.append(h('h1', {}, 'Attacks and mitigations'),
    h('div', { class: 'field inline' }, activeOnly, h('label', { for: activeOnly.id = 'active-only' }, 'Active only')),
    state, list, h('h2', {}, 'Block by hand'), block);
  activeOnly.addEventListener('change', load);

  const act = acting(state, () => load());

  async function load() {
    try {
      const params = scopeParams().concat(activeOnly.checked ? [['active', 'true']] : []);
      const [a, m] = await Promise.all([call('GET', '/api/v1/ddos/attacks', params), call('GET', '/api/v1/ddos/mitigations', params)]);
      list.replaceChildren(
        objectTable(`${a.attacks.length} attacks`, [['class', 'class'], ['address', 'address'], ['account', 'account'], ['start', 'start'], ['end', 'end'],
          ['peak_bps', 'peak bits/s'], ['peak_pps', 'peak packets/s'], ['mitigation', 'mitigation']], a.attacks, null, 'Attacks'),
        objectTable(`${m.mitigations.length} mitigations`, [['id', 'id'], ['status', 'status'], ['reason', 'reason'], ['rule', 'rule'], ['action', 'action'], ['by', 'by']],
          m.mitigations, o => [
            o.status === 'pending' ? h('button', { type: 'button', onclick: () => act(() => call('POST', `/api/v1/ddos/mitigations/${o.id}/approve`, scopeParams(), {}), 'Approved.') }, 'Approve') : null,
            ['announced', 'pending', 'dry-run', 'covered'].includes(o.status) ? h('button', { type: 'button', onclick: () => act(() => call('DELETE', `/api/v1/ddos/mitigations/${o.id}`, scopeParams()), 'Withdrawn.') }, 'Withdraw') : null,
          ], 'Mitigations'));
    } catch (e) {
      state.show(e.status === 404 ? 'DDoS protection is not turned on on this server (ddos: in its settings).' : e.message, true);
    }
  }
  load();
  return () => {};
}
