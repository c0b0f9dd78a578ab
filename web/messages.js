// One message as a list item: its kind, reply quote, reactions, edit/deletion marks and, for
// outbound messages, delivery ticks. All message content is hostile: text nodes only.

import { el, shortTime, fullTime } from './dom.js';
import { mediaBox, mediaKey, mediaLabel } from './media.js';

const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'document', 'sticker']);
const RANK = { received: 0, queued: 1, sent: 2, delivered: 3, read: 4, played: 5 };
const MEDIA_RANK = { pending: 0, stored: 1, failed: 1, expired: 1 };
const TICKS = {
  queued: ['🕓', 'queued'], sent: ['✓', 'sent'], delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'], played: ['✓✓', 'played'], failed: ['!', 'failed'],
};

const str = (v) => (typeof v === 'string' ? v : '');

// Oldest first: WhatsApp's timestamp, then arrival, then id.
export function messageOrder(a, b) {
  return (a.timestamp || 0) - (b.timestamp || 0) || (a.createdAt || 0) - (b.createdAt || 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// The newer record of a message, except what only moves forward: the delivery status (failed
// stays failed), a deletion, and the media download state.
export function mergeMessage(old, incoming) {
  if (!old) return incoming;
  const merged = { ...incoming };
  if (old.status === 'failed') {
    merged.status = 'failed';
    if (!merged.error) merged.error = old.error;
  } else if (incoming.status !== 'failed' && (RANK[old.status] ?? -1) > (RANK[incoming.status] ?? -1)) {
    merged.status = old.status;
  }
  if (old.deletedAt && !incoming.deletedAt) {
    merged.deletedAt = old.deletedAt;
    delete merged.text;
  }
  if (old.editedAt && !incoming.editedAt) merged.editedAt = old.editedAt;
  const om = old.media, im = incoming.media;
  if (om && im && (MEDIA_RANK[om.state] ?? -1) > (MEDIA_RANK[im.state] ?? -1)) merged.media = om;
  return merged;
}

function location(loc) {
  if (!loc || typeof loc !== 'object') return 'Location';
  const place = [str(loc.name), str(loc.address)].filter(Boolean).join(', ');
  const lat = typeof loc.latitude === 'number' ? loc.latitude.toFixed(5) : '';
  const lon = typeof loc.longitude === 'number' ? loc.longitude.toFixed(5) : '';
  const coords = lat && lon ? `${lat}, ${lon}` : '';
  return '📍 ' + ([place, coords && `(${coords})`].filter(Boolean).join(' ') || 'Location');
}

function contactCard(c) {
  if (!c || typeof c !== 'object') return 'contact';
  const n = c.name && typeof c.name === 'object' ? c.name : {};
  const name = str(n.formatted_name) || [str(n.first_name), str(n.last_name)].filter(Boolean).join(' ') || 'contact';
  const phones = Array.isArray(c.phones) ? c.phones.map((p) => p && str(p.phone)).filter(Boolean) : [];
  return phones.length ? `${name} (${phones.join(', ')})` : name;
}

// The text shown for a message: its text, or a caption or description of its kind.
export function describe(m) {
  if (m.deletedAt) return 'This message was deleted';
  const text = str(m.text);
  if (MEDIA_TYPES.has(m.type)) return text || str(m.media && m.media.caption) || mediaLabel(m);
  switch (m.type) {
    case 'text': return text;
    case 'location': return location(m.location);
    case 'contacts': {
      const list = Array.isArray(m.contacts) ? m.contacts : [];
      return '👤 ' + (list.map(contactCard).join('; ') || 'contacts');
    }
    case 'template': {
      const t = m.template && typeof m.template === 'object' ? m.template : {};
      const lang = t.language && typeof t.language === 'object' ? str(t.language.code) : '';
      return `Template ${str(t.name)}${lang ? ' (' + lang + ')' : ''}`;
    }
    case 'request_welcome': return text || 'Opened the chat';
    case 'unsupported': return text || 'Unsupported message';
    case 'media_placeholder': return text || 'Media (not described yet)';
    case 'system': return text || 'System message';
    default: return text || `${m.type} message`;
  }
}

function replyQuote(m, lookup) {
  const target = lookup(m.replyTo);
  const quote = el('div', { class: 'reply-quote', dataset: { target: m.replyTo } });
  if (!target) {
    quote.textContent = 'Reply to an earlier message';
  } else {
    const t = describe(target);
    quote.textContent = (target.direction === 'outbound' ? 'You: ' : '') + (t.length > 140 ? t.slice(0, 140) + '…' : t);
  }
  return quote;
}

function reactions(list) {
  const box = el('div', { class: 'reactions' });
  for (const r of list) {
    if (!r || !str(r.emoji)) continue;
    box.append(el('span', { class: 'reaction', text: r.emoji, title: str(r.from) }));
  }
  return box.childElementCount ? box : null;
}

// Fills `li` (an li.message) for message `m`; `lookup(id)` finds other loaded messages.
export function renderMessage(li, m, lookup) {
  li.dataset.id = m.id;
  li.dataset.direction = m.direction === 'outbound' ? 'outbound' : 'inbound';
  li.dataset.status = str(m.status);
  li.classList.toggle('deleted', Boolean(m.deletedAt));
  const bubble = el('div', { class: 'bubble' });
  if (m.forwarded) bubble.append(el('div', { class: 'forwarded', text: m.frequentlyForwarded ? 'Forwarded many times' : 'Forwarded' }));
  if (str(m.replyTo)) bubble.append(replyQuote(m, lookup));
  if (MEDIA_TYPES.has(m.type) && !m.deletedAt && m.media && typeof m.media.state === 'string') {
    const old = li.querySelector(':scope > .bubble > .media');
    bubble.append(old && old.dataset.key === mediaKey(m) ? old : mediaBox(m));
  }
  bubble.append(el('div', { class: 'text', text: describe(m) }));
  if (Array.isArray(m.reactions) && m.reactions.length) bubble.append(reactions(m.reactions));
  const meta = el('div', { class: 'meta' });
  if (m.origin === 'business_app') meta.append(el('span', { class: 'origin', text: 'phone app' }));
  else if (m.origin === 'history') meta.append(el('span', { class: 'origin', text: 'history' }));
  if (str(m.sentBy)) meta.append(el('span', { class: 'sender', text: m.sentBy }));
  if (m.editedAt && !m.deletedAt) meta.append(el('span', { class: 'edited', text: 'edited', title: fullTime(m.editedAt) }));
  meta.append(el('time', { text: shortTime(m.timestamp), title: fullTime(m.timestamp) }));
  if (li.dataset.direction === 'outbound' && TICKS[m.status]) {
    const [mark, label] = TICKS[m.status];
    meta.append(el('span', { class: 'ticks ' + m.status, text: mark, title: label, 'aria-label': label }));
  }
  bubble.append(meta);
  if (m.status === 'failed' && m.error && typeof m.error === 'object') {
    const code = m.error.code !== undefined ? ` (${m.error.code})` : '';
    bubble.append(el('div', { class: 'error', text: `Not delivered: ${str(m.error.title) || 'failed'}${code}` }));
  }
  li.replaceChildren(bubble);
}
