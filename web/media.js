// Media of messages: fetched with the auth header from /api/messages/{id}/media, shown from
// blob: URLs (the CSP allows blob: for img and media). Inbound media (and echoes) carry a
// `state`; media the API sent by link or id has none and there is nothing to fetch.

import { fetchMedia } from './api.js';
import { el } from './dom.js';

const cache = new Map(); // "<message id>:<sha256>" -> Promise<{state, url?}>

// Revokes every blob URL made so far (when the conversation closes).
export function releaseMedia() {
  for (const p of cache.values()) p.then((r) => r.url && URL.revokeObjectURL(r.url), () => {});
  cache.clear();
}

function load(msg) {
  const key = msg.id + ':' + (msg.media.sha256 || '');
  let p = cache.get(key);
  if (!p) {
    p = fetchMedia(msg.id).then((r) =>
      r.state === 'stored' ? { state: 'stored', url: URL.createObjectURL(r.blob) } : r);
    cache.set(key, p);
    p.then((r) => { if (r.state !== 'stored' && cache.get(key) === p) cache.delete(key); },
      () => { if (cache.get(key) === p) cache.delete(key); });
  }
  return p;
}

const NOUNS = { image: 'Photo', video: 'Video', audio: 'Audio', document: 'Document', sticker: 'Sticker' };

export function mediaLabel(msg) {
  const m = msg.media || {};
  if (msg.type === 'audio' && m.voice) return 'Voice message';
  const noun = NOUNS[msg.type] || 'Media';
  return typeof m.filename === 'string' && m.filename ? `${noun}: ${m.filename}` : noun;
}

// A key that changes when the media box must be built again.
export function mediaKey(msg) {
  const m = msg.media || {};
  return `${msg.type}:${m.state || ''}:${m.sha256 || ''}`;
}

function note(box, text) {
  box.replaceChildren(el('span', { class: 'media-note', text }));
}

async function show(box, msg, clicked) {
  note(box, 'loading…');
  let r;
  try {
    r = await load(msg);
  } catch (e) {
    note(box, 'media unavailable: ' + e.message);
    return;
  }
  if (r.state === 'pending') return note(box, 'downloading');
  if (r.state === 'expired') return note(box, 'media expired');
  if (r.state !== 'stored') return note(box, 'media download failed');
  const filename = typeof msg.media.filename === 'string' && msg.media.filename ? msg.media.filename : 'document';
  let node;
  if (msg.type === 'image' || msg.type === 'sticker') {
    node = el('img', { class: 'thumb ' + msg.type, src: r.url, alt: mediaLabel(msg) });
    node.addEventListener('click', () => node.classList.toggle('large'));
  } else if (msg.type === 'video') {
    node = el('video', { class: 'thumb', controls: true, preload: 'metadata', src: r.url });
  } else if (msg.type === 'audio') {
    node = el('audio', { controls: true, preload: 'metadata', src: r.url });
  } else {
    node = el('a', { class: 'download', href: r.url, download: filename, text: 'Save ' + filename });
  }
  box.replaceChildren(node);
  if (clicked && node.tagName === 'A') node.click();
}

// The box shown for an image/video/audio/document/sticker message whose media has a state.
export function mediaBox(msg) {
  const m = msg.media && typeof msg.media === 'object' ? msg.media : {};
  const box = el('div', { class: 'media', dataset: { key: mediaKey(msg) } });
  if (m.state === 'pending') {
    note(box, 'downloading');
  } else if (m.state === 'expired') {
    note(box, 'media expired');
  } else if (m.state === 'failed') {
    note(box, 'media download failed');
  } else if (msg.type === 'image' || msg.type === 'sticker') {
    show(box, { ...msg, media: m }, false);
  } else {
    const text = msg.type === 'document'
      ? 'Download ' + (typeof m.filename === 'string' && m.filename ? m.filename : 'document')
      : 'Load ' + (m.voice ? 'voice message' : (NOUNS[msg.type] || 'media').toLowerCase());
    const button = el('button', { type: 'button', class: 'media-load', text });
    button.addEventListener('click', () => show(box, { ...msg, media: m }, true));
    box.append(button);
  }
  return box;
}
