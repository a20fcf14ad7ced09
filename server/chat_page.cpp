// GET /: the chat page (server/chat_page.html, embedded at build time).
#include "chat_page_html.h"
#include "server/context.h"

namespace vkllm::server {

void add_chat_page(httplib::Server& http) {
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(kChatPageHtml.data(), kChatPageHtml.size(), "text/html; charset=utf-8");
  });
}

}  // namespace vkllm::server
