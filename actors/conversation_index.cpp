#include "actors/conversation_index.hpp"

#include <algorithm>

namespace inboxd {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Whether `hay` contains `lq` (already lower-case), ignoring ASCII case; no allocation.
bool contains_folded(std::string_view hay, const std::string& lq) {
  if (lq.size() > hay.size())
    return false;
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i + lq.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < lq.size() && fold(hay[i + k]) == lq[k])
      ++k;
    if (k == lq.size())
      return true;
  }
  return false;
}

template <class Contact>
bool contact_matches(const Contact& c, const std::string& lq) {
  if (lq.empty())
    return true;
  return contains_folded(c.display_name(), lq) || contains_folded(c.profile_name, lq) ||
         contains_folded(c.username, lq) ||
         std::string_view(c.phone).find(lq) != std::string_view::npos;
}

// A 64-bit filter of the adjacent character pairs (ASCII case folded) in `s`. A text that
// contains q has every pair of q, so a row whose bits miss one of q's cannot match and is
// skipped without reading its contact (the scan stays in the contiguous rows).
uint64_t bigram_bits(std::string_view s) {
  auto fold = [](char c) {
    return static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  };
  uint64_t bits = 0;
  for (size_t i = 1; i < s.size(); ++i)
    bits |= uint64_t{1} << ((fold(s[i - 1]) * 31u + fold(s[i])) % 64);
  return bits;
}

bool has_all_tags(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  for (auto& t : want)
    if (std::find(have.begin(), have.end(), t) == have.end())
      return false;
  return true;
}

// Eight bytes of the id after its "cv_" prefix, big-endian, so comparing keys orders like
// comparing the ids (equal keys fall back to the whole ids).
uint64_t id_key_of(const std::string& id) {
  uint64_t k = 0;
  for (size_t i = 3; i < 11; ++i)
    k = (k << 8) | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0);
  return k;
}

// Grows a vector by half its size instead of doubling: the index's rows are most of a
// workspace's memory.
template <class T>
void reserve_for_one_more(std::vector<T>& v) {
  if (v.size() == v.capacity())
    v.reserve(v.capacity() < 16 ? 16 : v.capacity() + v.capacity() / 2);
}

} // namespace

contact conversation_index::contact_slot::to_contact() const {
  contact c;
  c.id = id.str();
  c.phone = phone.str();
  c.wa_user_id = user_id.str();
  c.username = username.str();
  c.custom_name = custom_name.str();
  c.profile_name = profile_name.str();
  c.tags = tags.get();
  c.created_at = created_at;
  c.updated_at = updated_at;
  c.marketing_opt_out_at = marketing_opt_out_at;
  c.marketing_changed_at = marketing_changed_at;
  return c;
}

uint32_t conversation_index::name_pool::code(const std::string& name) {
  if (auto i = codes_.find(name); i != codes_.end())
    return i->second;
  auto code = static_cast<uint32_t>(names_.size());
  codes_.emplace(names_.emplace_back(name), code);
  return code;
}

int64_t conversation_index::name_pool::find(const std::string& name) const {
  auto i = codes_.find(name);
  return i == codes_.end() ? -1 : i->second;
}

uint32_t conversation_index::contact_slot_of(const std::string& id) {
  if (auto s = by_contact_id_.find(id, contact_id_of()); s != kNone)
    return s;
  auto s = static_cast<uint32_t>(contacts_.size());
  contacts_.emplace_back().id = id;
  by_contact_id_.insert(s, contact_id_of());
  return s;
}

void conversation_index::put_contact(const contact& c, bool keep_names) {
  auto s = contact_slot_of(c.id);
  auto& slot = contacts_[s];
  if (!keep_names || !slot.known)
    set_names(s, c.phone, c.wa_user_id, c.username);
  slot.custom_name = c.custom_name;
  slot.profile_name = c.profile_name;
  slot.tags = c.tags;
  slot.created_at = c.created_at;
  slot.updated_at = c.updated_at;
  slot.marketing_opt_out_at = c.marketing_opt_out_at;
  slot.marketing_changed_at = c.marketing_changed_at;
  slot.known = true;
  if (slot.conv != kNone)
    set_text(rows_[slot.conv]);
}

// A table entry's key must not change under it: the old name's entry goes first (if this
// contact still holds it), the new one is added after (taking it over from any other).
void conversation_index::set_names(uint32_t s, std::string_view phone, std::string_view user_id,
                                   std::string_view username) {
  auto& slot = contacts_[s];
  auto set = [s](slot_table& table, packed_string& field, std::string_view value,
                 const auto& key_of) {
    if (field.view() == value)
      return;
    if (!field.empty())
      table.erase(field.view(), key_of, s);
    field = std::string(value);
    if (!field.empty())
      table.insert(s, key_of);
  };
  set(by_phone_, slot.phone, phone, phone_of());
  set(by_user_id_, slot.user_id, user_id, user_id_of());
  set(by_username_, slot.username, username, username_of());
}

std::vector<std::string> conversation_index::stored_conversations(uint32_t& from, size_t n) const {
  std::vector<std::string> out;
  for (; from < rows_.size() && out.size() < n; ++from)
    if (rows_[from].stored)
      out.push_back(rest_[from].id.str());
  if (from >= rows_.size())
    from = 0;
  return out;
}

void conversation_index::erase(const std::string& conversation_id, const std::string& contact_id) {
  if (auto c = by_contact_id_.find(contact_id, contact_id_of()); c != kNone) {
    set_names(c, "", "", "");
    by_contact_id_.erase(contacts_[c].id.view(), contact_id_of(), c);
    contacts_[c] = contact_slot{};
  }
  if (auto s = by_conv_id_.find(conversation_id, conv_id_of()); s != kNone) {
    by_conv_id_.erase(rest_[s].id.view(), conv_id_of(), s);
    rest_[s] = conv_rest{};
    rows_[s] = row{}; // not stored: lists skip it
  }
}

conversation_index::contact_ids conversation_index::ids_of(uint32_t s) const {
  auto& slot = contacts_[s];
  return {slot.id.str(), slot.conv == kNone ? std::string() : rest_[slot.conv].id.str()};
}

std::optional<conversation_index::contact_ids> conversation_index::link(identity& who) {
  auto s = kNone;
  if (!who.user_id.empty())
    s = by_user_id_.find(who.user_id, user_id_of());
  if (s == kNone && !who.phone.empty())
    s = by_phone_.find(who.phone, phone_of());
  if (s == kNone && !who.username.empty()) {
    // Usernames move between users: one held by a contact with another phone or user id than
    // `who` names (neither of which any contact holds, or they would have matched) is not this
    // customer's; a new contact takes it over.
    auto u = by_username_.find(who.username, username_of());
    if (u != kNone && (who.user_id.empty() || contacts_[u].user_id.empty()) &&
        (who.phone.empty() || contacts_[u].phone.empty()))
      s = u;
  }
  if (s == kNone)
    return std::nullopt;
  auto& slot = contacts_[s];
  auto held_by_other = [s](const slot_table& table, const std::string& key, const auto& key_of) {
    auto o = key.empty() ? kNone : table.find(key, key_of);
    return o != kNone && o != s;
  };
  if (held_by_other(by_phone_, who.phone, phone_of()))
    who.phone.clear();
  if (held_by_other(by_user_id_, who.user_id, user_id_of()))
    who.user_id.clear();
  set_names(s, who.phone.empty() ? slot.phone.view() : std::string_view(who.phone),
            who.user_id.empty() ? slot.user_id.view() : std::string_view(who.user_id),
            who.username.empty() ? slot.username.view() : std::string_view(who.username));
  if (slot.conv != kNone)
    set_text(rows_[slot.conv]);
  return ids_of(s);
}

void conversation_index::rename(const std::string& contact_id, const std::string& phone,
                                const std::string& user_id) {
  auto s = by_contact_id_.find(contact_id, contact_id_of());
  if (s == kNone)
    return;
  auto& slot = contacts_[s];
  set_names(s, phone.empty() ? slot.phone.view() : std::string_view(phone),
            user_id.empty() ? slot.user_id.view() : std::string_view(user_id),
            slot.username.view());
  if (slot.conv != kNone)
    set_text(rows_[slot.conv]);
}

void conversation_index::set_text(row& r) const {
  auto& slot = contacts_[r.contact];
  r.text_bits = slot.known ? bigram_bits(slot.display_name()) | bigram_bits(slot.profile_name) |
                                 bigram_bits(slot.phone) | bigram_bits(slot.username)
                           : 0;
}

void conversation_index::put_conversation(const conversation& c) {
  uint32_t s;
  bool fresh = false;
  if (auto found = by_conv_id_.find(c.id, conv_id_of()); found != kNone) {
    s = found;
  } else {
    fresh = true;
    s = static_cast<uint32_t>(rows_.size());
    reserve_for_one_more(rows_);
    rows_.emplace_back();
    rest_.emplace_back().id = c.id; // never reassigned
    by_conv_id_.insert(s, conv_id_of());
  }
  auto& rest = rest_[s];
  rest.unread_count = c.unread_count;
  rest.last_message_at = c.last_message_at;
  rest.created_at = c.created_at;
  rest.updated_at = c.updated_at;
  rest.seq = c.seq;
  rest.last_message_preview = c.last_message_preview;
  rest.tags = c.tags;

  auto& r = rows_[s];
  auto cs = contact_slot_of(c.contact_id);
  if (!fresh && r.contact != cs && contacts_[r.contact].conv == s)
    contacts_[r.contact].conv = kNone; // moved to another contact (not done today)
  contacts_[cs].conv = s;
  r.contact = cs;
  r.activity = c.last_message_at ? c.last_message_at : c.created_at;
  r.last_inbound_at = c.last_inbound_at;
  r.id_key = id_key_of(c.id);
  r.assignee = users_.code(c.assigned_to);
  r.status = static_cast<uint16_t>(statuses_.code(c.status));
  r.mode = static_cast<uint16_t>(modes_.code(c.mode));
  r.stored = c.updated_at != 0;
  r.tag_bits = 0;
  r.more_tags = false;
  for (auto& t : c.tags) {
    auto [i, added] = tags_.try_emplace(t, static_cast<uint32_t>(tags_.size()));
    if (i->second < 64)
      r.tag_bits |= uint64_t{1} << i->second;
    else
      r.more_tags = true;
  }
  set_text(r);
}

conversation conversation_index::assemble(uint32_t s) const {
  auto& r = rows_[s];
  auto& rest = rest_[s];
  conversation c;
  c.id = rest.id.str();
  c.contact_id = contacts_[r.contact].id.str();
  c.status = statuses_.name(r.status);
  c.mode = modes_.name(r.mode);
  c.assigned_to = users_.name(r.assignee);
  c.unread_count = rest.unread_count;
  c.tags = rest.tags.get();
  c.last_message_at = rest.last_message_at;
  c.last_message_preview = rest.last_message_preview.str();
  c.last_inbound_at = r.last_inbound_at;
  c.created_at = rest.created_at;
  c.updated_at = rest.updated_at;
  c.seq = rest.seq;
  return c;
}

std::optional<contact> conversation_index::contact_by_phone(const std::string& phone) const {
  auto s = by_phone_.find(phone, phone_of());
  if (s == kNone)
    return std::nullopt;
  return contacts_[s].to_contact();
}

std::optional<conversation_index::contact_ids> conversation_index::ids_by_phone(
    const std::string& phone) const {
  auto s = by_phone_.find(phone, phone_of());
  if (s == kNone)
    return std::nullopt;
  return ids_of(s);
}

std::optional<contact> conversation_index::contact_by_user_id(const std::string& user_id) const {
  auto s = by_user_id_.find(user_id, user_id_of());
  if (s == kNone)
    return std::nullopt;
  return contacts_[s].to_contact();
}

std::optional<contact> conversation_index::contact_by_id(const std::string& id) const {
  auto s = by_contact_id_.find(id, contact_id_of());
  if (s == kNone || !contacts_[s].known)
    return std::nullopt;
  return contacts_[s].to_contact();
}

std::optional<conversation> conversation_index::conversation_by_id(const std::string& id) const {
  auto s = by_conv_id_.find(id, conv_id_of());
  if (s == kNone)
    return std::nullopt;
  return assemble(s);
}

std::optional<conversation>
conversation_index::conversation_of_contact(const std::string& cid) const {
  auto s = by_contact_id_.find(cid, contact_id_of());
  if (s == kNone || contacts_[s].conv == kNone)
    return std::nullopt;
  return assemble(contacts_[s].conv);
}

nlohmann::json conversation_index::render(const conversation& c, int64_t now_ms) const {
  static const contact none;
  auto ct = contact_by_id(c.contact_id);
  return conversation_api(c, ct ? *ct : none, now_ms);
}

nlohmann::json conversation_index::list_contacts(const std::string& q, int64_t page,
                                                 int64_t limit) const {
  auto lq = lower(q);
  std::vector<const contact_slot*> hits;
  for (auto& slot : contacts_)
    if (slot.known && slot.updated_at != 0 && contact_matches(slot, lq))
      hits.push_back(&slot);
  std::sort(hits.begin(), hits.end(), [](const contact_slot* a, const contact_slot* b) {
    return a->updated_at != b->updated_at ? a->updated_at > b->updated_at
                                          : a->id.view() < b->id.view();
  });
  nlohmann::json out = nlohmann::json::array();
  auto first = static_cast<size_t>((page - 1) * limit);
  for (size_t i = first; i < hits.size() && i < first + static_cast<size_t>(limit); ++i)
    out.push_back(contact_api(hits[i]->to_contact()));
  return {{"contacts", std::move(out)},
          {"page", page},
          {"limit", limit},
          {"total", hits.size()}};
}

std::string conversation_index::list_conversations(const conversation_filter& f,
                                                      int64_t now_ms) const {
  auto lq = lower(f.q);
  auto q_bits = bigram_bits(lq);
  // The filters as row codes. A wanted value that no conversation ever had matches no row.
  bool any_status = f.status == "all";
  auto want_status = any_status ? 0 : statuses_.find(f.status);
  auto want_mode = f.mode.empty() ? 0 : modes_.find(f.mode);
  uint64_t want_bits = 0;
  bool check_tag_list = false, impossible = want_status < 0 || want_mode < 0;
  for (auto& t : f.tags) {
    auto i = tags_.find(t);
    if (i == tags_.end())
      impossible = true;
    else if (i->second < 64)
      want_bits |= uint64_t{1} << i->second;
    else
      check_tag_list = true;
  }
  int64_t me = f.me.empty() ? -1 : users_.find(f.me);
  int64_t want_assignee = f.assigned_to.empty()              ? -2 // any
                          : f.assigned_to == "unassigned" ? 0
                                                             : users_.find(f.assigned_to);
  int64_t all = 0, mine = 0, unassigned = 0;
  hits_.clear();
  if (!impossible) {
    for (uint32_t s = 0; s < rows_.size(); ++s) {
      auto& r = rows_[s];
      if (!r.stored) // created for a webhook whose write has not committed yet
        continue;
      if (!any_status && r.status != want_status)
        continue;
      if (!f.mode.empty() && r.mode != want_mode)
        continue;
      if (f.active_only && !(r.last_inbound_at && now_ms < r.last_inbound_at + kReplyWindowMs))
        continue;
      if ((r.tag_bits & want_bits) != want_bits ||
          (check_tag_list && !has_all_tags(rest_[s].tags.get(), f.tags)))
        continue;
      if (!lq.empty() &&
          ((r.text_bits & q_bits) != q_bits || !contacts_[r.contact].known ||
           !contact_matches(contacts_[r.contact], lq)))
        continue;
      ++all;
      if (r.assignee == 0)
        ++unassigned;
      else if (r.assignee == me)
        ++mine;
      if (want_assignee != -2 && r.assignee != want_assignee)
        continue;
      hits_.push_back({r.activity, r.id_key, s});
    }
  }
  // Newest activity first, ties by id (descending).
  auto newer = [this](const hit& a, const hit& b) {
    if (a.activity != b.activity)
      return a.activity > b.activity;
    if (a.id_key != b.id_key)
      return a.id_key > b.id_key;
    return rest_[a.slot].id.view() > rest_[b.slot].id.view();
  };
  auto total = static_cast<int64_t>(hits_.size());
  auto first = std::min((f.page - 1) * f.limit, total);
  auto end = std::min(first + f.limit, total);
  std::string out;
  out.reserve(512 + 600 * static_cast<size_t>(end - first));
  out += "{\"conversations\":[";
  if (first < end) {
    // Deep pages: select the window's first element in linear time, then sort only the window.
    if (first > 0)
      std::nth_element(hits_.begin(), hits_.begin() + first, hits_.end(), newer);
    std::partial_sort(hits_.begin() + first, hits_.begin() + end, hits_.end(), newer);
    static const contact none;
    for (auto k = first; k < end; ++k) {
      auto& r = rows_[hits_[k].slot];
      if (k > first)
        out += ',';
      auto& slot = contacts_[r.contact];
      append_conversation_api(out, assemble(hits_[k].slot), slot.known ? slot.to_contact() : none,
                              now_ms);
    }
  }
  // Keys in the order nlohmann's dump gives every other response.
  out += "],\"counts\":{\"all\":" + std::to_string(all) + ",\"mine\":" + std::to_string(mine) +
         ",\"unassigned\":" + std::to_string(unassigned) + "},\"limit\":" +
         std::to_string(f.limit) + ",\"page\":" + std::to_string(f.page) +
         ",\"total\":" + std::to_string(total) + "}";
  return out;
}

} // namespace inboxd
