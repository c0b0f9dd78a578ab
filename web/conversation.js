// The open conversation: header and actions (assign, handover, status, tags, read), messages
// oldest first with infinite scroll back through `nextBefore`, live message upserts, and the
// reply box with the 24-hour window (templates when it is closed).

import { request, currentUserId, signedInWithKey, newClientMessageId } from './api.js';
import { $, el, toast, contactName, phoneLabel } from './dom.js';
import { renderMessage, mergeMessage, messageOrder } from './messages.js';
import { releaseMedia } from './media.js';

const PAGE_SIZE = 50;
const DAY_MS = 24 * 3600 * 1000;

export class ConversationView {
  // onConversation(conv): an answer or event changed a conversation (the list shows it too).
  constructor({ onConversation }) {
    this.onConversation = onConversation;
    this.section = $('#conversation');
    this.ul = $('#messages');
    this.id = null;
    this.conv = null;
    this.messages = new Map(); // id -> {msg, li}
    this.nextBefore = null;
    this.loadingOlder = false;
    this.generation = 0;
    this.pendingSend = null; // {conversationId, text, clientMessageId}: reused after a network error
    this.windowTimer = 0;
    this.lookup = (id) => { const k = this.messages.get(id); return k && k.msg; };
    this.membersRead = null; // the GET /api/members in flight
    this.bind();
  }

  bind() {
    $('#reply-send').addEventListener('click', () => this.sendText());
    $('#reply-text').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.sendText();
      }
    });
    $('#template-send').addEventListener('click', () => this.sendTemplate());
    $('#assign-button').addEventListener('click', () =>
      this.act('POST', '/assign', { assignedTo: $('#assign-to').value.trim() || null }));
    $('#assign-to').addEventListener('focus', () => this.readMembers());
    $('#assign-to').addEventListener('input', (e) => {
      const typed = e.target.value.trim();
      const known = [...$('#assign-members').options].some((o) => o.value.startsWith(typed));
      if (typed && !known) this.readMembers();
    });
    $('#assign-me').addEventListener('click', () => {
      const me = currentUserId();
      if (me) this.act('POST', '/assign', { assignedTo: me });
    });
    $('#handover-button').addEventListener('click', () => {
      if (this.conv) this.act('POST', '/handover', { mode: this.conv.mode === 'ai' ? 'human' : 'ai' });
    });
    $('#status-select').addEventListener('change', (e) => this.act('POST', '/status', { status: e.target.value }));
    $('#tags-save').addEventListener('click', () => this.saveTags());
    $('#tags-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.saveTags();
      }
    });
    $('#mark-read').addEventListener('click', () => this.act('POST', '/read'));
    this.ul.addEventListener('scroll', () => {
      if (this.ul.scrollTop < 80) this.loadOlder();
    });
    this.ul.addEventListener('click', (e) => {
      const quote = e.target.closest('.reply-quote');
      const target = quote && this.messages.get(quote.dataset.target);
      if (target) target.li.scrollIntoView({ block: 'center' });
    });
  }

  // The workspace's members, offered in #assign-members when assigning (read on each open, when
  // the field gets focus, and when what one types matches none of them; a failed read keeps the
  // last list, and the field stays free text).
  readMembers() {
    if (this.membersRead) return this.membersRead;
    this.membersRead = request('GET', '/api/members').then((r) => {
      const list = r && Array.isArray(r.members) ? r.members : [];
      const options = list.filter((m) => m && typeof m.userId === 'string')
        .map((m) => el('option', { value: m.userId, label: m.userId + ' (' + m.role + ')' }));
      $('#assign-members').replaceChildren(...options);
    }, () => {}).finally(() => { this.membersRead = null; });
    return this.membersRead;
  }

  path(suffix = '') {
    return '/api/conversations/' + encodeURIComponent(this.id) + suffix;
  }

  async open(id, hint) {
    if (this.id === id) return;
    this.close();
    const gen = this.generation;
    this.id = id;
    this.section.dataset.id = id;
    this.section.hidden = false;
    $('#assign-to').value = '';
    this.readMembers();
    $('#reply-text').value = '';
    $('#conversation-title').textContent = hint ? contactName(hint.contact) : 'Loading…';
    if (hint) this.update(hint, true);
    let conv, page;
    try {
      [conv, page] = await Promise.all([
        request('GET', this.path()),
        request('GET', this.path('/messages?limit=' + PAGE_SIZE)),
      ]);
    } catch (e) {
      if (gen === this.generation) toast(e.message);
      return;
    }
    if (gen !== this.generation) return;
    this.update(conv, true);
    this.onConversation(conv);
    this.nextBefore = page.nextBefore;
    for (const m of page.messages || []) this.put(m, { older: true });
    this.scrollToEnd();
    this.fillViewport();
    if (conv.unreadCount > 0) this.act('POST', '/read');
  }

  close() {
    this.generation++;
    this.id = null;
    this.conv = null;
    this.messages.clear();
    this.ul.replaceChildren();
    this.nextBefore = null;
    this.loadingOlder = false;
    this.pendingSend = null;
    clearTimeout(this.windowTimer);
    releaseMedia();
    this.section.hidden = true;
    delete this.section.dataset.id;
    $('#messages-loading').hidden = true;
  }

  // Shows a conversation's header, actions and reply window (`fresh`: also reset the editors).
  update(conv, fresh = false) {
    if (!conv || conv.id !== this.id) return;
    if (this.conv && this.conv.id === conv.id && conv.updatedAt < this.conv.updatedAt) return; // older
    this.conv = conv;
    const ct = conv.contact || {};
    $('#conversation-title').textContent = contactName(ct);
    const details = [
      ct.name ? phoneLabel(ct.phone) : '',
      ct.username ? '@' + ct.username : '',
      conv.status,
      conv.mode === 'ai' ? 'AI' : 'human',
      conv.assignedTo ? 'assigned to ' + conv.assignedTo : 'unassigned',
      conv.unreadCount ? `${conv.unreadCount} unread` : '',
      (conv.tags || []).length ? 'tags: ' + conv.tags.join(', ') : '',
    ];
    $('#conversation-details').textContent = details.filter(Boolean).join(' · ');
    const handover = $('#handover-button');
    handover.dataset.mode = conv.mode;
    handover.textContent = conv.mode === 'ai' ? 'Take over' : 'Hand over to AI';
    $('#status-select').value = conv.status;
    if (fresh) $('#tags-input').value = (conv.tags || []).join(', ');
    $('#assign-me').hidden = signedInWithKey() || !currentUserId();
    const open = Boolean(conv.canReply);
    const state = $('#window-state');
    state.textContent = open ? 'open' : 'closed';
    state.dataset.state = open ? 'open' : 'closed';
    $('#reply-box').hidden = !open;
    $('#template-form').hidden = open;
    // The window closes by itself 24 h after the last inbound message: read it again then.
    clearTimeout(this.windowTimer);
    if (open && typeof conv.lastInboundAt === 'number') {
      const wait = conv.lastInboundAt + DAY_MS - Date.now() + 1000;
      if (wait > 0 && wait < DAY_MS + 60000) this.windowTimer = setTimeout(() => this.refresh(), wait);
    }
  }

  async refresh() {
    const gen = this.generation;
    if (!this.id) return;
    try {
      const conv = await request('GET', this.path());
      if (gen !== this.generation) return;
      this.update(conv);
      this.onConversation(conv);
    } catch (e) {
      toast(e.message);
    }
  }

  nearEnd() {
    return this.ul.scrollHeight - this.ul.scrollTop - this.ul.clientHeight < 80;
  }

  scrollToEnd() {
    this.ul.scrollTop = this.ul.scrollHeight;
  }

  // Adds or updates a message of the open conversation (from a page, an event or a send).
  put(msg, { older = false, scroll = false } = {}) {
    if (!msg || typeof msg.id !== 'string' || msg.conversationId !== this.id) return;
    const known = this.messages.get(msg.id);
    const merged = mergeMessage(known && known.msg, msg);
    const stick = !older && this.nearEnd();
    const li = known ? known.li : el('li', { class: 'message' });
    this.messages.set(msg.id, { msg: merged, li });
    renderMessage(li, merged, this.lookup);
    if (!known) {
      let ref = this.ul.lastElementChild;
      while (ref && messageOrder(this.messages.get(ref.dataset.id).msg, merged) > 0) ref = ref.previousElementSibling;
      this.ul.insertBefore(li, ref ? ref.nextSibling : this.ul.firstChild);
      if (stick || scroll) this.scrollToEnd();
    }
    // Replies to this message show its text once it is loaded or changed.
    for (const other of this.messages.values()) {
      if (other.msg.replyTo === msg.id) renderMessage(other.li, other.msg, this.lookup);
    }
  }

  async loadOlder() {
    if (this.loadingOlder || !this.id || !this.nextBefore) return;
    const gen = this.generation;
    this.loadingOlder = true;
    $('#messages-loading').hidden = false;
    let page;
    try {
      page = await request('GET', this.path(`/messages?before=${encodeURIComponent(this.nextBefore)}&limit=${PAGE_SIZE}`));
    } catch (e) {
      if (gen === this.generation) toast(e.message);
      return;
    } finally {
      if (gen === this.generation) {
        this.loadingOlder = false;
        $('#messages-loading').hidden = true;
      }
    }
    if (gen !== this.generation) return;
    const height = this.ul.scrollHeight;
    const top = this.ul.scrollTop;
    this.nextBefore = page.nextBefore;
    for (const m of page.messages || []) this.put(m, { older: true });
    this.ul.scrollTop = top + (this.ul.scrollHeight - height);
    this.fillViewport();
  }

  // Loads older pages until the list can scroll (so scrolling up can ask for more).
  fillViewport() {
    if (this.nextBefore && this.ul.clientHeight > 0 && this.ul.scrollHeight <= this.ul.clientHeight + 80)
      this.loadOlder();
  }

  async post(body, button) {
    button.disabled = true;
    try {
      const answer = await request('POST', '/api/messages/send', body);
      this.put(answer && answer.message, { scroll: true });
      return true;
    } catch (e) {
      toast(e.message);
      if (e.code === 'window_closed') this.refresh();
      if (e.status === 0) throw e;
      return false;
    } finally {
      button.disabled = false;
    }
  }

  async sendText() {
    const box = $('#reply-text');
    const text = box.value;
    if (!this.id || !text.trim()) return;
    if ([...text].length > 4096) return toast('A message is at most 4,096 characters.');
    const conversationId = this.id;
    let pending = this.pendingSend;
    if (!pending || pending.text !== text || pending.conversationId !== conversationId) {
      pending = { conversationId, text, clientMessageId: newClientMessageId() };
      this.pendingSend = pending;
    }
    try {
      const ok = await this.post({ conversationId, text, clientMessageId: pending.clientMessageId }, $('#reply-send'));
      if (ok && this.id === conversationId && box.value === text) box.value = '';
    } catch {
      return; // network error: the same clientMessageId is used when this text is sent again
    }
    if (this.pendingSend === pending) this.pendingSend = null;
  }

  async sendTemplate() {
    const name = $('#template-name').value.trim();
    const language = $('#template-language').value.trim();
    if (!this.id) return;
    if (!name || !language) return toast('Enter the template name and its language code (such as en_US).');
    const body = { conversationId: this.id, type: 'template', template: { name, language }, clientMessageId: newClientMessageId() };
    try {
      await this.post(body, $('#template-send'));
    } catch {
      // shown by post
    }
  }

  async saveTags() {
    const tags = [...new Set($('#tags-input').value.split(',').map((t) => t.trim()).filter(Boolean))];
    const conv = await this.act('PUT', '/tags', { tags });
    if (conv) $('#tags-input').value = (conv.tags || []).join(', ');
  }

  // A conversation action; its answer (the conversation) updates the header and the list.
  async act(method, suffix, body) {
    if (!this.id) return null;
    const gen = this.generation;
    try {
      const conv = await request(method, this.path(suffix), body);
      if (gen === this.generation) this.update(conv);
      this.onConversation(conv);
      return conv;
    } catch (e) {
      toast(e.message);
      if (gen === this.generation && this.conv) this.update(this.conv);
      return null;
    }
  }
}
