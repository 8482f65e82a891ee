"""The web chat page in a real browser (Debian's Chromium driven by Playwright) at a phone's size.

Set WEBCHAT_SCREENSHOTS=/some/dir to keep screenshots of the page for a look by eye."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.webchat import WebChatAdapter, WebChatDirectory, WebChatGroup, WebChatPerson
from handlers.contract import Mention, Message, SendToGroup, SendToUser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and os.environ.get("LOUDONG_REQUIRE_BROWSER"):
    # CI installs Chromium: there a missing browser is a failure, not a reason to skip.
    raise RuntimeError("LOUDONG_REQUIRE_BROWSER is set but /usr/bin/chromium is missing")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)
playwright_api = pytest.importorskip("playwright.async_api")
Browser = playwright_api.Browser
Page = playwright_api.Page
expect = playwright_api.expect

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
BOT = "楼栋助手"

DIRECTORY = WebChatDirectory(
    groups=[
        WebChatGroup(id="b5", name="5号楼群", unit="5号楼", kind="building", grid="第一网格"),
        WebChatGroup(id="b6", name="6号楼群", unit="6号楼", kind="building", grid="第一网格"),
        WebChatGroup(id="g1", name="第一网格工作群", unit="第一网格", kind="grid"),
    ],
    people=[
        WebChatPerson(id="zhang-ayi", name="张阿姨", role="resident", role_label="居民", unit="5号楼"),
        WebChatPerson(id="li-shu", name="李叔", role="resident", role_label="居民", unit="5号楼"),
        WebChatPerson(
            id="li-fang", name="李芳", role="micro_grid_leader", role_label="微网格长", unit="5号楼"
        ),
        WebChatPerson(id="wang-shifu", name="物业王师傅", role="property", role_label="物业"),
    ],
)


@dataclass
class Site:
    url: str
    adapter: WebChatAdapter
    delivered: asyncio.Queue[Message]


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async def directory() -> WebChatDirectory:
        return DIRECTORY

    delivered: asyncio.Queue[Message] = asyncio.Queue()

    async def deliver(message: Message) -> None:
        await delivered.put(message)

    adapter = WebChatAdapter(directory, BOT, clock=lambda: datetime.now(UTC))
    app = web.Application()
    adapter.mount(app)
    await adapter.start(deliver)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield Site(str(server.make_url("/")), adapter, delivered)
    finally:
        await adapter.stop()
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_phone(browser: Browser, url: str) -> Page:
    """A fresh phone (its own localStorage), showing the page."""
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("#enter-button")).to_be_enabled()
    return page


async def enter(page: Page, group: str, identity: str, guest_name: str = "") -> None:
    await page.select_option("#group-select", group)
    await page.select_option("#identity-select", identity)
    if guest_name:
        await page.fill("#guest-name", guest_name)
    await page.click("#enter-button")
    await expect(page.locator("#chat")).to_be_visible()
    await expect(page.locator("#say-button")).to_be_enabled()


async def say(page: Page, text: str) -> None:
    await page.fill("#say-input", text)
    await page.click("#say-button")
    await expect(page.locator(".msg.mine .text").last).to_have_text(text)


async def next_delivered(site: Site) -> Message:
    return await asyncio.wait_for(site.delivered.get(), 5)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: WEBCHAT_SCREENSHOTS to keep them, else the test's temporary folder."""
    folder = Path(os.environ.get("WEBCHAT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"webchat-{name}.png"))


async def test_residents_chat_live_and_the_bot_tags_them(site: Site, browser: Browser, shots: Path) -> None:
    zhang = await open_phone(browser, site.url)
    await expect(zhang.locator("#group-select optgroup")).to_have_count(2)  # 第一网格, 网格工作群
    await screenshot(zhang, shots, "phone-setup")
    await enter(zhang, "b5", "zhang-ayi")
    await expect(zhang.locator("#group-title")).to_have_text("5号楼群")
    await expect(zhang.locator("#identity-line")).to_have_text("我是 张阿姨(居民)")

    report = "2单元楼道灯坏了好几天了,晚上黑乎乎的"
    await say(zhang, report)
    delivered = await next_delivered(site)
    assert (delivered.group_id, delivered.sender_id, delivered.text) == ("b5", "zhang-ayi", report)

    # A new resident opens the same group on another phone: the history is there, and then it is live.
    guest = await open_phone(browser, site.url)
    await enter(guest, "b5", "__guest__", guest_name="3单元王叔叔")
    others = guest.locator(".msg.other")
    await expect(others.first.locator(".text")).to_have_text(report)
    await say(zhang, "有人在吗?")
    assert (await next_delivered(site)).text == "有人在吗?"
    await expect(others.last.locator(".text")).to_have_text("有人在吗?")
    await expect(others.last.locator(".role")).to_have_text("居民")

    # The guest replies to the report; 张阿姨 sees the quote.
    await others.first.locator(".bubble").click()
    await expect(guest.locator("#reply-bar")).to_be_visible()
    await say(guest, "我家门口的也不亮")
    reply = await next_delivered(site)
    assert reply.reply_to == delivered.message_id
    last_other = zhang.locator(".msg.other").last
    await expect(last_other.locator(".quote")).to_have_text(f"张阿姨:{report}")
    await expect(last_other.locator(".role")).to_have_text("新居民")

    await site.adapter.send(
        SendToGroup(
            platform="webchat",
            group_id="b5",
            text="@张阿姨 收到,已登记 #1024 楼道照明报修(5号楼2单元),已通知 @物业王师傅 处理,"
            "@李芳 跟进。发“查询 #1024”可看进度。",
            mentions=(
                Mention(user_id="zhang-ayi", name="张阿姨"),
                Mention(user_id="wang-shifu", name="物业王师傅"),
                Mention(user_id="li-fang", name="李芳"),
            ),
            reply_to=delivered.message_id,
        )
    )
    from_bot = zhang.locator(".msg.bot").last
    await expect(from_bot.locator(".name")).to_have_text(BOT)
    await expect(from_bot).to_have_class("msg bot mentions-me")
    await expect(from_bot.locator(".at.me")).to_have_text("@张阿姨")
    await expect(from_bot.locator(".at")).to_have_count(3)
    await expect(from_bot.locator(".tag-me")).to_be_visible()
    # For the guest it is the same message, but not addressed to them.
    guest_view = guest.locator(".msg.bot").last
    await expect(guest_view.locator(".at")).to_have_count(3)
    await expect(guest_view.locator(".at.me")).to_have_count(0)
    await expect(guest_view).not_to_have_class("msg bot mentions-me")
    await screenshot(zhang, shots, "phone-chat")

    # A private message from the bot: a badge, then the private panel.
    await site.adapter.send(
        SendToUser(platform="webchat", user_id="zhang-ayi", text="#1024 已由物业王师傅接单,今天下午上门。")
    )
    await expect(zhang.locator("#private-badge")).to_have_text("1")
    await expect(guest.locator("#private-badge")).to_be_hidden()
    await zhang.click("#private-button")
    private = zhang.locator("#private-messages .msg.bot .text")
    await expect(private).to_have_text("#1024 已由物业王师傅接单,今天下午上门。")
    await expect(zhang.locator("#private-badge")).to_be_hidden()
    await screenshot(zhang, shots, "phone-private")


async def test_the_page_reconnects_and_remembers_the_chat(site: Site, browser: Browser, shots: Path) -> None:
    page = await open_phone(browser, site.url)
    await enter(page, "b6", "li-fang")
    await say(page, "今天下午巡查6号楼")

    # The server drops every socket; the page says so, reconnects by itself and rejoins.
    await site.adapter.stop()
    await expect(page.locator("#conn-status")).to_contain_text("重新连接")
    await expect(page.locator("#say-button")).to_be_disabled()
    await screenshot(page, shots, "phone-reconnecting")
    await site.adapter.start(site.delivered.put)
    await expect(page.locator("#conn-status")).to_be_hidden(timeout=10_000)
    await say(page, "又连上了")

    # Reloading goes straight back into the same group as the same person.
    await page.reload()
    await expect(page.locator("#chat")).to_be_visible()
    await expect(page.locator("#group-title")).to_have_text("6号楼群")
    await expect(page.locator(".msg.mine .text")).to_have_text(["今天下午巡查6号楼", "又连上了"])
