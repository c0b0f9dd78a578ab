// End-to-end: media in the web inbox, with the media fixture's fake Graph API (media_fixture.hpp).
// An inbound photo is fetched by the page from GET /api/messages/{id}/media with its credential
// and shown as a thumbnail from a blob: URL (the page's CSP allows no other image source): the
// image the page shows is the one WhatsApp served (each photo has its own size). A photo whose
// download is still being retried shows as downloading and turns into its thumbnail live, without a
// reload, once inboxd has stored it.

#include <fstream>
#include <iterator>
#include <string>

#include "tests/e2e/media_fixture.hpp"
#include "tests/e2e/web_page.hpp"

namespace inboxd::test {
namespace {

class web_media_test : public media_test, public ::testing::WithParamInterface<std::string> {
protected:
  // The intrinsic size ("<width>x<height>") of the image the page shows for message `msg`, once
  // loaded from a blob: URL ("" after kWait). The photos differ in size, so this tells which
  // bytes the page has (the page's CSP keeps even the test from reading blob: URLs back).
  std::string shown_size(browser& page, const std::string& msg) {
    auto img = "document.querySelector(" +
               js("#messages li.message[data-id=" + js(msg) + "] img.thumb") + ")";
    if (!page.wait_for(img + ".complete && " + img + ".naturalWidth > 0 && " + img +
                           ".src.startsWith('blob:')",
                       kWait))
      return "";
    return page.eval(img + ".naturalWidth + 'x' + " + img + ".naturalHeight").get<std::string>();
  }
};

TEST_P(web_media_test, photos_show_as_thumbnails_and_a_pending_one_turns_into_one_live) {
  auto opened = open_browser(GetParam());
  auto& page = *opened;

  // Real PNGs to serve as the photos: screenshots of the sign-in page at two sizes.
  auto png_at = [&](int width, int height) {
    page.set_viewport(width, height, false);
    EXPECT_TRUE(page.wait_for("window.innerWidth === " + std::to_string(width), kWait));
    auto path = artifacts_dir() / ("web-media-" + unique_id() + ".png");
    page.screenshot(path.string());
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(path);
    return bytes;
  };
  ASSERT_NO_THROW(page.navigate(inboxd_->base_url() + "/"));
  auto first_png = png_at(320, 240);
  auto second_png = png_at(200, 150);
  ASSERT_TRUE(first_png.starts_with("\x89PNG") && second_png.starts_with("\x89PNG"));
  ASSERT_NE(first_png, second_png);

  // One photo stored before the page opens; one whose lookups fail until the test lets them.
  auto stored_id = "9100" + std::to_string(now_s());
  put_media(stored_id, {first_png, "image/png"});
  auto stored = post_media("image", stored_id, 20);
  ASSERT_EQ(wait_media(stored).status, 200);
  auto later_id = "9200" + std::to_string(now_s());
  fake_media failing{second_png, "image/png"};
  failing.always_fail = true;
  put_media(later_id, failing);
  auto later = post_media("image", later_id, 10);
  ASSERT_EQ(get_media(later).status, 202) << "the second photo is not pending";

  sign_in(page, inboxd_->base_url(), api_key_);
  if (HasFatalFailure())
    return;
  page.eval("window.inboxdTestMarker = 17; true");
  auto item = std::string("#conversation-list li.conversation");
  ASSERT_TRUE(page.wait_for(visible(item), kWait)) << "the conversation is not in the list";
  page.eval(click(item));

  EXPECT_EQ(shown_size(page, stored), "320x240")
      << "the stored photo is not shown as its thumbnail: "
      << page.eval("document.getElementById('messages').innerHTML");
  auto later_box = "#messages li.message[data-id=" + js(later) + "] .media";
  EXPECT_TRUE(page.wait_for(
      "document.querySelector(" + js(later_box) + ").textContent.includes('downloading')", kWait))
      << "the pending photo does not say it is downloading: "
      << page.eval("document.getElementById('messages').innerHTML");

  // Its lookups succeed from now on: inboxd's next retry stores it, the page shows it live.
  update(later_id, [](fake_media& m) { m.always_fail = false; });
  ASSERT_EQ(wait_media(later).status, 200);
  EXPECT_EQ(shown_size(page, later), "200x150")
      << "the photo stored later did not turn into its thumbnail: "
      << page.eval("document.getElementById('messages').innerHTML");
  EXPECT_EQ(page.eval("window.inboxdTestMarker"), 17) << "the page was reloaded";

  EXPECT_TRUE(page.problems().empty()) << joined(page.problems());
}

INSTANTIATE_TEST_SUITE_P(browsers, web_media_test, ::testing::Values("chromium", "firefox"),
                         [](const auto& info) { return info.param; });

} // namespace
} // namespace inboxd::test
