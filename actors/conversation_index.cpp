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
bool contains_folded(const std::string& hay, const std::string& lq) {
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

bool contact_matches(const contact& c, const std::string& lq) {
  if (lq.empty())
    return true;
  return contains_folded(c.display_name(), lq) || contains_folded(c.profile_name, lq) ||
         c.phone.find(lq) != std::string::npos;
}

// A 64-bit filter of the adjacent character pairs (ASCII case folded) in `s`. A text that
// contains q has every pair of q, so a row whose bits miss one of q's cannot match and is
// skipped without reading its contact (the scan stays in the contiguous rows).
uint64_t bigram_bits(const std::string& s) {
  auto fold = [](char c) {
    return static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  };
  uint64_t bits = 0;
  for (size_t i = 1; i < s.size(); ++i)
    bits |= uint64_t{1} << ((fold(s[i - 1]) * 31u + fold(s[i])) % 64);
  return bits;
}

constexpr uint8_t kOther = 255; // a status or mode outside the known values

uint8_t status_code(const std::string& s) {
  return s == "open" ? 0 : s == "pending" ? 1 : s == "closed" ? 2 : kOther;
}

// Eight bytes of the id after its "cv_" prefix, big-endian, so comparing keys orders like
// comparing the ids (equal keys fall back to the whole ids).
uint64_t id_key_of(const std::string& id) {
  uint64_t k = 0;
  for (size_t i = 3; i < 11; ++i)
    k = (k << 8) | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0);
  return k;
}

uint8_t mode_code(const std::string& m) {
  return m == "human" ? 0 : m == "ai" ? 1 : kOther;
}

bool has_all_tags(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  for (auto& t : want)
    if (std::find(have.begin(), have.end(), t) == have.end())
      return false;
  return true;
}

} // namespace

void conversation_index::put_contact(const contact& c) {
  auto i = contacts_.find(c.id);
  if (i != contacts_.end() && i->second.phone != c.phone)
    by_phone_.erase(i->second.phone);
  auto& stored = contacts_[c.id] = c; // map nodes are stable: rows keep pointing at it
  by_phone_[c.phone] = c.id;
  if (auto cv = by_contact_.find(c.id); cv != by_contact_.end())
    set_contact(rows_[cv->second->slot], &stored);
}

void conversation_index::set_contact(row& r, const contact* ct) {
  r.ct = ct;
  r.text_bits = ct ? bigram_bits(ct->display_name()) | bigram_bits(ct->profile_name) |
                         bigram_bits(ct->phone)
                   : 0;
}

uint32_t conversation_index::intern_user(const std::string& id) {
  if (id.empty())
    return 0;
  auto [i, fresh] = users_.try_emplace(id, static_cast<uint32_t>(users_.size() + 1));
  return i->second;
}

void conversation_index::fill_row(row& r, const conversation& c) {
  r.activity = c.last_message_at ? c.last_message_at : c.created_at;
  r.last_inbound_at = c.last_inbound_at;
  r.conv = &c;
  r.id_key = id_key_of(c.id);
  set_contact(r, contact_by_id(c.contact_id));
  r.assignee = intern_user(c.assigned_to);
  r.status = status_code(c.status);
  r.mode = mode_code(c.mode);
  r.stored = c.updated_at != 0;
  r.tag_bits = 0;
  r.more_tags = false;
  for (auto& t : c.tags) {
    auto [i, fresh] = tags_.try_emplace(t, static_cast<uint32_t>(tags_.size()));
    if (i->second < 64)
      r.tag_bits |= uint64_t{1} << i->second;
    else
      r.more_tags = true;
  }
}

void conversation_index::put_conversation(const conversation& c) {
  auto [i, fresh] = conversations_.try_emplace(c.id);
  auto& e = i->second;
  if (fresh) {
    e.slot = static_cast<uint32_t>(rows_.size());
    rows_.emplace_back();
  } else if (e.conv.contact_id != c.contact_id) {
    by_contact_.erase(e.conv.contact_id);
  }
  e.conv = c;
  by_contact_[c.contact_id] = &e;
  fill_row(rows_[e.slot], e.conv);
}

const contact* conversation_index::contact_by_phone(const std::string& phone) const {
  auto i = by_phone_.find(phone);
  return i == by_phone_.end() ? nullptr : contact_by_id(i->second);
}

const contact* conversation_index::contact_by_id(const std::string& id) const {
  auto i = contacts_.find(id);
  return i == contacts_.end() ? nullptr : &i->second;
}

const conversation* conversation_index::conversation_by_id(const std::string& id) const {
  auto i = conversations_.find(id);
  return i == conversations_.end() ? nullptr : &i->second.conv;
}

const conversation* conversation_index::conversation_of_contact(const std::string& cid) const {
  auto i = by_contact_.find(cid);
  return i == by_contact_.end() ? nullptr : &i->second->conv;
}

nlohmann::json conversation_index::render(const conversation& c, int64_t now_ms) const {
  static const contact none;
  auto ct = contact_by_id(c.contact_id);
  return conversation_api(c, ct ? *ct : none, now_ms);
}

nlohmann::json conversation_index::list_contacts(const std::string& q, int64_t page,
                                                 int64_t limit) const {
  auto lq = lower(q);
  std::vector<const contact*> hits;
  for (auto& [id, c] : contacts_)
    if (c.updated_at != 0 && contact_matches(c, lq))
      hits.push_back(&c);
  std::sort(hits.begin(), hits.end(), [](const contact* a, const contact* b) {
    return a->updated_at != b->updated_at ? a->updated_at > b->updated_at : a->id < b->id;
  });
  nlohmann::json out = nlohmann::json::array();
  auto first = static_cast<size_t>((page - 1) * limit);
  for (size_t i = first; i < hits.size() && i < first + static_cast<size_t>(limit); ++i)
    out.push_back(contact_api(*hits[i]));
  return {{"contacts", std::move(out)},
          {"page", page},
          {"limit", limit},
          {"total", hits.size()}};
}

std::string conversation_index::list_conversations(const conversation_filter& f,
                                                      int64_t now_ms) const {
  auto lq = lower(f.q);
  auto q_bits = bigram_bits(lq);
  // The filters as row codes. A wanted tag or assignee nobody has matches no row.
  bool any_status = f.status == "all";
  uint8_t want_status = status_code(f.status), want_mode = mode_code(f.mode);
  uint64_t want_bits = 0;
  bool check_tag_list = false, impossible = false;
  for (auto& t : f.tags) {
    auto i = tags_.find(t);
    if (i == tags_.end())
      impossible = true;
    else if (i->second < 64)
      want_bits |= uint64_t{1} << i->second;
    else
      check_tag_list = true;
  }
  auto code_of = [&](const std::string& id) -> int64_t { // -1: nobody has it
    auto i = users_.find(id);
    return i == users_.end() ? -1 : i->second;
  };
  int64_t me = f.me.empty() ? -1 : code_of(f.me);
  int64_t want_assignee = f.assigned_to.empty()              ? -2 // any
                          : f.assigned_to == "unassigned" ? 0
                                                             : code_of(f.assigned_to);
  int64_t all = 0, mine = 0, unassigned = 0;
  hits_.clear();
  if (!impossible) {
    for (uint32_t s = 0; s < rows_.size(); ++s) {
      auto& r = rows_[s];
      if (!r.stored) // created for a webhook whose write has not committed yet
        continue;
      if (!any_status && (r.status != want_status ||
                          (r.status == kOther && r.conv->status != f.status)))
        continue;
      if (!f.mode.empty() &&
          (r.mode != want_mode || (r.mode == kOther && r.conv->mode != f.mode)))
        continue;
      if (f.active_only && !(r.last_inbound_at && now_ms < r.last_inbound_at + kReplyWindowMs))
        continue;
      if ((r.tag_bits & want_bits) != want_bits ||
          (check_tag_list && !has_all_tags(r.conv->tags, f.tags)))
        continue;
      if (!lq.empty() &&
          ((r.text_bits & q_bits) != q_bits || !r.ct || !contact_matches(*r.ct, lq)))
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
  // Newest activity first, ties by id (descending); only the requested window is sorted.
  auto newer = [this](const hit& a, const hit& b) {
    if (a.activity != b.activity)
      return a.activity > b.activity;
    if (a.id_key != b.id_key)
      return a.id_key > b.id_key;
    return rows_[a.slot].conv->id > rows_[b.slot].conv->id;
  };
  auto total = static_cast<int64_t>(hits_.size());
  auto first = std::min((f.page - 1) * f.limit, total);
  auto end = std::min(first + f.limit, total);
  std::string out;
  out.reserve(512 + 600 * static_cast<size_t>(end - first));
  out += "{\"conversations\":[";
  if (first < end) {
    std::partial_sort(hits_.begin(), hits_.begin() + end, hits_.end(), newer);
    static const contact none;
    for (auto k = first; k < end; ++k) {
      auto& r = rows_[hits_[k].slot];
      if (k > first)
        out += ',';
      append_conversation_api(out, *r.conv, r.ct ? *r.ct : none, now_ms);
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
