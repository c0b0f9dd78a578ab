// The inbox page: sign in and out, the two panes (one at a time on phones), and live events
// routed to the list and the open conversation.

import {
  request, storedCredentials, useCredentials, forgetCredentials, onUnauthorized,
  credentialProblem, isApiKey, currentUserId, signedInWithKey,
} from './api.js';
import { $ } from './dom.js';
import { ConversationList } from './list.js';
import { ConversationView } from './conversation.js';
import { LiveEvents } from './events.js';

const phone = window.matchMedia('(max-width: 600px)');
const app = $('#app');

const list = new ConversationList({ onOpen: (id) => openConversation(id) });
const view = new ConversationView({ onConversation: (c) => list.upsert(c) });
const live = new LiveEvents({
  onEvent: onLiveEvent,
  onState: (state) => {
    const node = $('#live-state');
    node.textContent = state;
    node.dataset.state = state;
  },
  // A stream opened without an id to resume from: read the list (and the open conversation)
  // again, so that nothing that happened before it is missed.
  onResync: () => {
    list.reload();
    if (view.id) {
      const id = view.id;
      const conv = view.conv;
      view.close();
      view.open(id, conv);
    }
  },
  // The stream was refused (it is opened again later): a request shows whether the
  // credential still works (a 401 signs out).
  onClosed: () => list.refreshCounts(),
});

function onLiveEvent(type, data) {
  if (data.conversation && typeof data.conversation === 'object') {
    list.upsert(data.conversation);
    view.update(data.conversation);
  }
  if ((type === 'message.created' || type === 'message.updated') && data.message && typeof data.message === 'object')
    view.put(data.message);
}

function openConversation(id) {
  list.setActive(id);
  app.classList.add('show-conversation');
  view.open(id, list.conversation(id));
  if (phone.matches) $('#conversation-title').focus();
}

function showList() {
  app.classList.remove('show-conversation');
  list.focusActive();
}

function start(creds) {
  $('#signin').hidden = true;
  app.hidden = false;
  app.classList.remove('show-conversation');
  $('#whoami').textContent = signedInWithKey()
    ? 'API key'
    : `${currentUserId() || 'user'}${creds.workspace ? ' · ' + creds.workspace : ''}`;
  view.close();
  list.clear();
  list.reload();
  live.start();
}

function signOut(message = '') {
  live.stop();
  view.close();
  list.clear();
  forgetCredentials();
  app.hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  $('#signin-credential').value = '';
  $('#signin-credential').focus();
}

async function signIn(e) {
  e.preventDefault();
  const credential = $('#signin-credential').value.trim();
  const workspace = $('#signin-workspace').value.trim();
  const error = $('#signin-error');
  error.textContent = '';
  const problem = credentialProblem(credential, workspace);
  if (problem) {
    error.textContent = problem;
    return;
  }
  const creds = { credential, workspace: isApiKey(credential) ? '' : workspace };
  const submit = $('#signin-submit');
  submit.disabled = true;
  try {
    // The credential is accepted only once the API accepts it.
    await request('GET', '/api/conversations?limit=1', undefined, creds);
  } catch (err) {
    error.textContent = err.message;
    return;
  } finally {
    submit.disabled = false;
  }
  useCredentials(creds);
  $('#signin-credential').value = '';
  start(creds);
}

$('#signin').addEventListener('submit', signIn);
$('#signout').addEventListener('click', () => signOut());
$('#back').addEventListener('click', showList);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && phone.matches && app.classList.contains('show-conversation')) {
    e.preventDefault();
    showList();
  }
});
onUnauthorized((err) => signOut(err.message));

const saved = storedCredentials();
if (saved) {
  useCredentials(saved);
  start(saved);
} else {
  $('#signin').hidden = false;
  $('#signin-credential').focus();
}
