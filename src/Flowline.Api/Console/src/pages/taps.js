// Taps (Neutron TaaS, docs/TAAS.md): the account's tap services and tap flows, made and deleted as the key may.
import { call, scopeParams } from '../api.js';
import { h, field, select, status } from '../dom.js';
import { objectTable, acting } from './objects.js';

export function taps(main) {
  const state = status();
  const list = h('div', {});
  const serviceName = h('input', { type: 'text', size: 16 });
  const servicePort = h('input', { type: 'text', required: true, size: 36, spellcheck: 'false', placeholder: 'port uuid' });
  const flowService = h('input', { type: 'text', required: true, size: 36, spellcheck: 'false', placeholder: 'tap service id' });
  const flowPort = h('input', { type: 'text', required: true, size: 36, spellcheck: 'false', placeholder: 'source port uuid' });
  const direction = select([['BOTH', 'both'], ['IN', 'in'], ['OUT', 'out']], 'BOTH');
  main.append(h('h1', {}, 'Taps'), state, list,
    h('h2', {}, 'New tap service'),
    h('form', { class: 'controls', 'aria-label': 'New tap service', onsubmit: e => {
      e.preventDefault();
      act(() => call('POST', '/v2.0/taas/tap_services', scopeParams(), { tap_service: { name: serviceName.value, port_id: servicePort.value.trim() } }), 'Tap service made.');
    } }, field('Name', serviceName), field('Port (where the copies go)', servicePort), h('button', { type: 'submit' }, 'Create')),
    h('h2', {}, 'New tap flow'),
    h('form', { class: 'controls', 'aria-label': 'New tap flow', onsubmit: e => {
      e.preventDefault();
      act(() => call('POST', '/v2.0/taas/tap_flows', scopeParams(), { tap_flow: { tap_service_id: flowService.value.trim(), source_port: flowPort.value.trim(), direction: direction.value } }), 'Tap flow made.');
    } }, field('Tap service', flowService), field('Source port (mirrored)', flowPort), field('Direction', direction), h('button', { type: 'submit' }, 'Create')));

  const act = acting(state, () => load());

  async function load() {
    try {
      const [s, f] = await Promise.all([call('GET', '/v2.0/taas/tap_services', scopeParams()), call('GET', '/v2.0/taas/tap_flows', scopeParams())]);
      const del = (kind, o) => h('button', { type: 'button', 'aria-label': `Delete ${kind} ${o.name || o.id}`, onclick: () => act(() => call('DELETE', `/v2.0/taas/${kind}s/${o.id}`, scopeParams()), 'Deleted.') }, 'Delete');
      list.replaceChildren(
        objectTable(`${s.tap_services.length} tap services`, [['id', 'id'], ['name', 'name'], ['port_id', 'port'], ['status', 'status'], ['status_reason', 'why']],
          s.tap_services, o => [del('tap_service', o)], 'Tap services'),
        objectTable(`${f.tap_flows.length} tap flows`, [['id', 'id'], ['name', 'name'], ['tap_service_id', 'tap service'], ['source_port', 'source port'], ['direction', 'direction'], ['status', 'status']],
          f.tap_flows, o => [del('tap_flow', o)], 'Tap flows'));
    } catch (e) {
      state.show(e.status === 404 ? 'Taps are not turned on on this server (taas: in its settings).' : e.message, true);
    }
  }
  load();
  return () => {};
}
