// Small DOM helpers. Everything that shows data builds nodes with createElement/textContent:
// message texts, names and previews are hostile input and are never parsed as HTML.

export const $ = (selector) => document.querySelector(selector);

// el('li', {class: 'x', text: 'hi', dataset: {id}, title: 't'}, child, 'text', ...)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

let toastTimer = 0;
// Shows a short message (API errors) in #toast (role=status).
export function toast(message) {
  const box = $('#toast');
  box.textContent = message;
  box.classList.add('visible');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.classList.remove('visible');
    box.textContent = '';
  }, 6000);
}

export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// "14:05" today, "3 Dec" this year, else "3 Dec 2025".
export function shortTime(ms) {
  if (typeof ms !== 'number') return '';
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString())
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const opts = { day: 'numeric', month: 'short' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString([], opts);
}

export function fullTime(ms) {
  return typeof ms === 'number' ? new Date(ms).toLocaleString() : '';
}

export function phoneLabel(phone) {
  return phone ? '+' + phone : '';
}

// The name a contact is shown by: its name, else its phone, username or WhatsApp user id.
export function contactName(contact) {
  if (!contact) return 'Unknown';
  return contact.name || phoneLabel(contact.phone) || (contact.username ? '@' + contact.username : '') ||
    contact.waUserId || 'Unknown';
}
