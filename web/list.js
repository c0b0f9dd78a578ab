// The conversation list: filters, counts, paging, unread badges, newest activity first, live
// upserts, and keyboard navigation (items are focusable; Enter opens, arrows move).

import { request, currentUserId } from './api.js';
import { $, el, toast, debounce, shortTime, contactName } from './dom.js';

const PAGE_SIZE = 25;

function activity(c) {
  return typeof c.lastMessageAt === 'number' ? c.lastMessageAt : c.createdAt || 0;
}

// Newest activity first; ties by id so the order is stable.
function before(a, b) {
  const d = activity(b) - activity(a);
  return d !== 0 ? d < 0 : a.id > b.id;
}

export class ConversationList {
  constructor({ onOpen }) {
    this.onOpen = onOpen;
    this.items = new Map(); // id -> {conv, li}
    this.page = 0;
    this.total = 0;
    this.counts = {};
    this.generation = 0;
    this.activeId = null;
    this.recent = null; // conversations from events while a reload is in flight
    this.ul = $('#conversation-list');
    // At most one counts read per 300 ms, and always one within 300 ms of a change.
    this.countsTimer = 0;
    this.refreshCountsSoon = () => {
      if (this.countsTimer) return;
      this.countsTimer = setTimeout(() => {
        this.countsTimer = 0;
        this.refreshCounts();
      }, 300);
    };
    const reload = () => this.reload();
    const reloadSoon = debounce(reload, 300);
    for (const id of ['#filter-status', '#filter-assignee', '#filter-mode', '#filter-active'])
      $(id).addEventListener('change', reload);
    for (const id of ['#filter-tags', '#filter-search']) {
      $(id).addEventListener('input', reloadSoon);
      $(id).addEventListener('change', () => { reloadSoon.cancel(); reload(); });
    }
    $('#list-more').addEventListener('click', () => this.more());
    this.ul.addEventListener('click', (e) => {
      const li = e.target.closest('li.conversation');
      if (li) this.onOpen(li.dataset.id);
    });
    this.ul.addEventListener('keydown', (e) => this.onKey(e));
  }

  filters() {
    const tags = $('#filter-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
    return {
      status: $('#filter-status').value,
      assignee: $('#filter-assignee').value,
      mode: $('#filter-mode').value,
      tags,
      active: $('#filter-active').checked,
      q: $('#filter-search').value.trim().slice(0, 200),
    };
  }

  query(page, limit) {
    const f = this.filters();
    const p = new URLSearchParams({ status: f.status });
    if (f.assignee === 'mine') p.set('assignedTo', 'me');
    else if (f.assignee === 'unassigned') p.set('assignedTo', 'unassigned');
    if (f.mode !== 'any') p.set('mode', f.mode);
    if (f.tags.length) p.set('tags', f.tags.join(','));
    if (f.active) p.set('active', 'true');
    if (f.q) p.set('q', f.q);
    p.set('page', String(page));
    p.set('limit', String(limit));
    return '/api/conversations?' + p.toString();
  }

  // Whether a conversation from a live event belongs in the list under the current filters.
  matches(c) {
    const f = this.filters();
    if (f.status !== 'all' && c.status !== f.status) return false;
    if (f.assignee === 'mine' && (!c.assignedTo || c.assignedTo !== currentUserId())) return false;
    if (f.assignee === 'unassigned' && c.assignedTo) return false;
    if (f.mode !== 'any' && c.mode !== f.mode) return false;
    if (f.tags.some((t) => !(c.tags || []).includes(t))) return false;
    if (f.active && !c.canReply) return false;
    if (f.q) {
      const q = f.q.toLowerCase();
      const digits = q.replace(/[^0-9]/g, '');
      const ct = c.contact || {};
      const hay = [ct.name, ct.phone, ct.username].filter(Boolean).map((s) => s.toLowerCase());
      if (!hay.some((s) => s.includes(q)) && !(digits && ct.phone && ct.phone.includes(digits))) return false;
    }
    return true;
  }

  clear() {
    this.generation++;
    this.items.clear();
    this.ul.replaceChildren();
    this.page = 0;
    this.total = 0;
    this.counts = {};
    this.activeId = null;
    $('#counts').textContent = '';
    $('#list-more').hidden = true;
    $('#list-empty').hidden = true;
  }

  async reload() {
    const gen = ++this.generation;
    const recent = new Map();
    this.recent = recent;
    let body;
    try {
      body = await request('GET', this.query(1, PAGE_SIZE));
    } catch (e) {
      if (gen === this.generation) toast(e.message);
      return;
    } finally {
      if (this.recent === recent) this.recent = null;
    }
    if (gen !== this.generation) return;
    this.items.clear();
    this.ul.replaceChildren();
    this.page = 1;
    this.take(body);
    // The page may predate events that arrived meanwhile: apply them again.
    for (const c of recent.values()) this.upsert(c);
  }

  async more() {
    const gen = this.generation;
    const button = $('#list-more');
    button.disabled = true;
    try {
      const body = await request('GET', this.query(this.page + 1, PAGE_SIZE));
      if (gen !== this.generation) return;
      this.page += 1;
      this.take(body);
    } catch (e) {
      toast(e.message);
    } finally {
      button.disabled = false;
    }
  }

  take(body) {
    for (const c of body.conversations || []) this.put(c);
    this.showCounts(body);
  }

  async refreshCounts() {
    const gen = this.generation;
    try {
      const body = await request('GET', this.query(1, 1));
      if (gen === this.generation) this.showCounts(body);
    } catch {
      // the next change or reload tries again
    }
  }

  showCounts(body) {
    this.counts = body.counts || {};
    this.total = typeof body.total === 'number' ? body.total : this.items.size;
    this.render();
  }

  // The counts line, "more" and the empty note, from the last counts read and the items shown.
  render() {
    const c = this.counts || {};
    this.total = Math.max(this.total, this.items.size);
    $('#counts').textContent =
      `All ${c.all ?? 0} · Mine ${c.mine ?? 0} · Unassigned ${c.unassigned ?? 0} · showing ${this.items.size} of ${this.total}`;
    $('#list-more').hidden = this.items.size >= this.total;
    $('#list-empty').hidden = this.items.size > 0;
  }

  // A conversation from a live event or an action's answer.
  upsert(c) {
    if (!c || typeof c.id !== 'string') return;
    if (this.recent) this.recent.set(c.id, c);
    const known = this.items.get(c.id);
    if (known && c.updatedAt < known.conv.updatedAt) return; // an older state than shown
    if (!this.matches(c)) {
      if (known) this.total -= 1;
      this.remove(c.id);
    } else if (this.items.has(c.id) || this.fitsLoadedRange(c)) {
      if (!known) this.total += 1;
      this.put(c);
    }
    this.render(); // at once; the counts follow from the server shortly
    this.refreshCountsSoon();
  }

  // A conversation new to the list is shown only when it sorts within the pages loaded so far;
  // otherwise "more" brings it in its place.
  fitsLoadedRange(c) {
    if (this.items.size < this.total) {
      const last = this.ul.lastElementChild;
      if (last && !before(c, this.items.get(last.dataset.id).conv)) return false;
    }
    return true;
  }

  remove(id) {
    const item = this.items.get(id);
    if (!item) return;
    item.li.remove();
    this.items.delete(id);
  }

  put(c) {
    let item = this.items.get(c.id);
    if (!item) {
      const li = el('li', { class: 'conversation', tabindex: '0', dataset: { id: c.id } });
      item = { conv: c, li };
      this.items.set(c.id, item);
    }
    item.conv = c;
    this.fill(item.li, c);
    this.place(item);
  }

  fill(li, c) {
    const unread = c.unreadCount || 0;
    const badge = el('span', { class: 'unread', text: String(unread), title: `${unread} unread` });
    badge.hidden = unread === 0;
    const flags = el('span', { class: 'flags' });
    if (c.mode === 'ai') flags.append(el('span', { class: 'flag ai', text: 'AI' }));
    if (c.status !== 'open') flags.append(el('span', { class: 'flag', text: c.status }));
    for (const t of (c.tags || []).slice(0, 3)) flags.append(el('span', { class: 'flag tag', text: t }));
    li.replaceChildren(
      el('span', { class: 'row' },
        el('span', { class: 'name', text: contactName(c.contact) }),
        el('span', { class: 'time', text: shortTime(c.lastMessageAt) })),
      el('span', { class: 'row' },
        el('span', { class: 'preview', text: c.lastMessagePreview || '' }),
        badge),
      flags);
    li.classList.toggle('has-unread', unread > 0);
    if (c.id === this.activeId) li.setAttribute('aria-current', 'true');
    else li.removeAttribute('aria-current');
  }

  // Moves an item to its place by activity (only when it is out of place; focus is kept).
  place(item) {
    let next = null;
    for (const li of this.ul.children) {
      if (li !== item.li && before(item.conv, this.items.get(li.dataset.id).conv)) {
        next = li;
        break;
      }
    }
    if (item.li.parentNode === this.ul && item.li.nextElementSibling === next) return;
    const focused = document.activeElement === item.li;
    this.ul.insertBefore(item.li, next);
    if (focused) item.li.focus();
  }

  setActive(id) {
    this.activeId = id;
    for (const [cid, item] of this.items) {
      if (cid === id) item.li.setAttribute('aria-current', 'true');
      else item.li.removeAttribute('aria-current');
    }
  }

  conversation(id) {
    const item = this.items.get(id);
    return item ? item.conv : null;
  }

  focusActive() {
    const item = this.items.get(this.activeId);
    (item ? item.li : this.ul.firstElementChild)?.focus();
  }

  onKey(e) {
    const li = e.target.closest('li.conversation');
    if (!li) return;
    let to = null;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.onOpen(li.dataset.id);
      return;
    }
    if (e.key === 'ArrowDown') to = li.nextElementSibling;
    else if (e.key === 'ArrowUp') to = li.previousElementSibling;
    else if (e.key === 'Home') to = this.ul.firstElementChild;
    else if (e.key === 'End') to = this.ul.lastElementChild;
    else return;
    e.preventDefault();
    if (to) to.focus();
  }
}
