// 楼栋群聊: the page of the built-in web chat. Plain JavaScript, no build step, no outside resources.
// Protocol: see bot/adapters/webchat.py. The page never shows a message until the server echoes it,
// so what one tab sees is what every tab in the group sees.
(() => {
  "use strict";

  const GUEST = "__guest__";
  const STORE = "loudong.webchat.";
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;
  const NEAR_BOTTOM_PX = 80;
  const KIND_LABELS = { building: "楼栋群", micro_grid: "微网格群", grid: "网格工作群", community: "社区群", street: "街道群" };
  const TIME_FORMAT = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false });
  const DAY_FORMAT = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", month: "numeric", day: "numeric" });

  const $ = (id) => document.getElementById(id);
  const el = {
    setup: $("setup"), setupForm: $("setup-form"), groupSelect: $("group-select"),
    identitySelect: $("identity-select"), guestFields: $("guest-fields"), guestName: $("guest-name"),
    enterButton: $("enter-button"), setupStatus: $("setup-status"),
    chat: $("chat"), switchButton: $("switch-button"), groupTitle: $("group-title"),
    identityLine: $("identity-line"), privateButton: $("private-button"), privateBadge: $("private-badge"),
    connStatus: $("conn-status"), messages: $("messages"), jumpButton: $("jump-button"),
    replyBar: $("reply-bar"), replyText: $("reply-text"), replyCancel: $("reply-cancel"),
    sayForm: $("say-form"), sayInput: $("say-input"), sayButton: $("say-button"),
    privatePanel: $("private-panel"), privateClose: $("private-close"), privateMessages: $("private-messages"),
    privateForm: $("private-form"), privateInput: $("private-input"), privateSend: $("private-send"),
    toast: $("toast"),
  };

  const state = {
    groups: new Map(), // id → {id, name, unit, kind, grid}
    people: new Map(), // id → {id, name, role, role_label, unit}
    botName: "楼栋助手",
    me: null, // {id, name}
    groupId: null, // the group we mean to be in (kept across reconnects)
    joined: false,
    messages: new Map(), // id → message frame of the current group, in arrival order
    privates: [],
    replyTo: null, // message frame being replied to
    ws: null,
    connected: false,
    retries: 0,
    retryTimer: null,
    toastTimer: null,
  };

  // ---- storage (private browsing may refuse localStorage: the page still works, it just forgets) ----

  const store = {
    get(key) { try { return localStorage.getItem(STORE + key); } catch { return null; } },
    set(key, value) { try { localStorage.setItem(STORE + key, value); } catch { /* forget */ } },
  };

  function guestId() {
    let id = store.get("guestId");
    if (!id) {
      const bytes = new Uint8Array(6);
      crypto.getRandomValues(bytes);
      id = "guest-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      store.set("guestId", id);
    }
    return id;
  }

  // ---- small helpers ----

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function showToast(text) {
    el.toast.textContent = text;
    el.toast.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { el.toast.hidden = true; }, 3500);
  }

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const sameDay = DAY_FORMAT.format(date) === DAY_FORMAT.format(new Date());
    return sameDay ? TIME_FORMAT.format(date) : `${DAY_FORMAT.format(date)} ${TIME_FORMAT.format(date)}`;
  }

  // A stable colour per person, so faces are recognisable down a long chat.
  function avatarColor(id) {
    let hash = 0;
    for (const char of id) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
    return `hsl(${hash % 360}, 45%, 48%)`;
  }

  function roleLabel(userId) {
    const person = state.people.get(userId);
    if (person) return person.role_label;
    return userId.startsWith("guest-") ? "新居民" : "";
  }

  // ---- directory and the setup screen ----

  async function loadDirectory() {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await fetch("api/directory", { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return await response.json();
      } catch {
        el.setupStatus.textContent = "通讯录加载失败,正在重试…";
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt)));
      }
    }
  }

  function groupHeading(group) {
    if (group.grid) return group.grid;
    return KIND_LABELS[group.kind] || "其他群";
  }

  function fillGroupSelect(groups) {
    const select = el.groupSelect;
    select.replaceChildren();
    const sections = new Map();
    for (const group of groups) {
      const heading = groupHeading(group);
      if (!sections.has(heading)) sections.set(heading, []);
      sections.get(heading).push(group);
    }
    for (const [heading, members] of sections) {
      const optgroup = node("optgroup");
      optgroup.label = heading;
      for (const group of members) {
        const option = node("option", "", group.unit && !group.name.includes(group.unit) ? `${group.name}(${group.unit})` : group.name);
        option.value = group.id;
        optgroup.append(option);
      }
      select.append(optgroup);
    }
    if (!groups.length) select.append(node("option", "", "通讯录里还没有群"));
  }

  function fillIdentitySelect(people) {
    const select = el.identitySelect;
    select.replaceChildren();
    const guest = node("option", "", "新居民(自己填写称呼)");
    guest.value = GUEST;
    select.append(guest);
    const byRole = new Map();
    for (const person of people) {
      const label = person.role_label || "其他";
      if (!byRole.has(label)) byRole.set(label, []);
      byRole.get(label).push(person);
    }
    for (const [label, members] of byRole) {
      const optgroup = node("optgroup");
      optgroup.label = label;
      for (const person of members) {
        const where = person.unit ? ` · ${person.unit}` : "";
        const option = node("option", "", `${person.name}(${person.role_label}${where})`);
        option.value = person.id;
        optgroup.append(option);
      }
      select.append(optgroup);
    }
  }

  function hasOption(select, value) {
    return Array.from(select.options).some((option) => option.value === value);
  }

  function restoreChoices() {
    const group = store.get("group");
    const identity = store.get("identity");
    if (group && hasOption(el.groupSelect, group)) el.groupSelect.value = group;
    if (identity && hasOption(el.identitySelect, identity)) el.identitySelect.value = identity;
    el.guestName.value = store.get("guestName") || "";
    updateGuestFields();
  }

  function updateGuestFields() {
    el.guestFields.hidden = el.identitySelect.value !== GUEST;
  }

  function chosenIdentity() {
    const choice = el.identitySelect.value;
    if (choice === GUEST) {
      const name = el.guestName.value.trim();
      return name ? { id: guestId(), name } : null;
    }
    const person = state.people.get(choice);
    return person ? { id: person.id, name: person.name } : null;
  }

  function enterChat(event) {
    if (event) event.preventDefault();
    const groupId = el.groupSelect.value;
    const me = chosenIdentity();
    if (!state.groups.has(groupId)) { el.setupStatus.textContent = "请选择一个群"; return; }
    if (!me) { el.setupStatus.textContent = "请填写您的称呼"; el.guestName.focus(); return; }
    el.setupStatus.textContent = "";
    store.set("group", groupId);
    store.set("identity", el.identitySelect.value);
    if (el.identitySelect.value === GUEST) store.set("guestName", me.name);
    store.set("entered", "1");
    state.me = me;
    state.groupId = groupId;
    state.joined = false;
    state.messages.clear();
    state.privates = [];
    setReply(null);
    const group = state.groups.get(groupId);
    el.groupTitle.textContent = group.name;
    document.title = `${group.name} · 楼栋群聊`;
    const label = roleLabel(me.id);
    el.identityLine.textContent = `我是 ${me.name}${label ? `(${label})` : ""}`;
    renderMessages();
    renderPrivates();
    el.setup.hidden = true;
    el.chat.hidden = false;
    sendJoin();
    updateComposer();
  }

  function leaveChat() {
    store.set("entered", "0");
    state.groupId = null;
    state.joined = false;
    el.privatePanel.hidden = true;
    el.chat.hidden = true;
    el.setup.hidden = false;
    document.title = "楼栋群聊";
  }

  // ---- the connection ----

  function connect() {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    state.ws = ws;
    setConnStatus("正在连接…");
    ws.addEventListener("open", () => {
      state.connected = true;
      state.retries = 0;
      setConnStatus("");
      sendJoin();
      updateComposer();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      onFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.connected = false;
      state.joined = false;
      updateComposer();
      scheduleReconnect();
    });
  }

  // Backoff with jitter, so a restarted server is not hit by every page at the same instant.
  function scheduleReconnect() {
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** state.retries) * (0.75 + Math.random() * 0.5);
    state.retries += 1;
    setConnStatus(`连接断开,${Math.max(1, Math.round(delay / 1000))} 秒后重新连接…`);
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, delay);
  }

  function setConnStatus(text) {
    el.connStatus.textContent = text;
    el.connStatus.hidden = !text;
  }

  function send(frame) {
    if (!state.connected || !state.ws) { showToast("还没连上,请稍等"); return false; }
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function sendJoin() {
    if (state.connected && state.groupId && state.me) {
      send({ type: "join", group: state.groupId, user: state.me.id, name: state.me.name });
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome": onWelcome(frame); break;
      case "history": onHistory(frame); break;
      case "message": onMessage(frame); break;
      case "private": onPrivate(frame, true); break;
      case "error": onError(frame); break;
      default: break; // a newer server may say more; ignore what we do not know
    }
  }

  function onWelcome(frame) {
    if (frame.bot_name) state.botName = frame.bot_name;
    for (const name of document.querySelectorAll(".bot-name")) name.textContent = state.botName;
  }

  function onHistory(frame) {
    if (frame.group !== state.groupId) return; // an answer to a join we have since replaced
    state.joined = true;
    state.messages.clear();
    for (const message of frame.messages || []) state.messages.set(message.id, message);
    state.privates = frame.private || [];
    if (frame.group_name) el.groupTitle.textContent = frame.group_name;
    renderMessages();
    renderPrivates();
    updateComposer();
  }

  function onMessage(message) {
    if (message.group !== state.groupId) return;
    state.messages.set(message.id, message);
    const atBottom = isNearBottom(el.messages);
    const empty = el.messages.querySelector(".empty");
    if (empty) empty.remove();
    el.messages.append(renderMessage(message));
    const mine = message.user === state.me?.id && !message.from_bot;
    if (atBottom || mine) {
      scrollToBottom(el.messages);
    } else {
      showJump(mentionsMe(message));
    }
    if (!mine && mentionsMe(message) && document.hidden) document.title = `【有人@我】${state.groups.get(state.groupId)?.name || "楼栋群聊"}`;
  }

  function onPrivate(message, live) {
    if (!state.me || message.to !== state.me.id) return;
    state.privates.push(message);
    el.privateMessages.querySelector(".empty")?.remove();
    el.privateMessages.append(renderMessage(message));
    scrollToBottom(el.privateMessages);
    if (live && message.from_bot && el.privatePanel.hidden) showToast(`${state.botName}发来一条私信`);
    updateBadge();
  }

  function onError(frame) {
    if (frame.code === "unknown_group") {
      leaveChat();
      el.setupStatus.textContent = frame.message;
      return;
    }
    showToast(frame.message || "出了点问题");
  }

  // ---- rendering ----

  function isNearBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom(list) {
    list.scrollTop = list.scrollHeight;
  }

  function showJump(forMe) {
    el.jumpButton.hidden = false;
    el.jumpButton.classList.toggle("me", forMe || el.jumpButton.classList.contains("me"));
    el.jumpButton.textContent = el.jumpButton.classList.contains("me") ? "有人@我 ↓" : "有新消息 ↓";
  }

  function hideJump() {
    el.jumpButton.hidden = true;
    el.jumpButton.classList.remove("me");
  }

  function renderMessages() {
    const list = el.messages;
    list.replaceChildren();
    if (!state.messages.size) {
      const hint = `还没有人说话。有事尽管说,助手会帮您登记、找人处理;也可以 @${state.botName} 提问。`;
      list.append(node("p", "empty", state.joined ? hint : "正在进入群聊…"));
    }
    for (const message of state.messages.values()) list.append(renderMessage(message));
    hideJump();
    scrollToBottom(list);
  }

  function renderPrivates() {
    const list = el.privateMessages;
    list.replaceChildren();
    if (!state.privates.length) list.append(node("p", "empty", `这里是您和${state.botName}的私信,只有您能看到。`));
    for (const message of state.privates) list.append(renderMessage(message));
    scrollToBottom(list);
    updateBadge();
  }

  function mentionsMe(message) {
    if (!state.me || (!message.from_bot && message.user === state.me.id)) return false;
    if ((message.mentions || []).some((m) => m.user_id === state.me.id)) return true;
    return message.text.includes(`@${state.me.name}`) || message.text.includes(`＠${state.me.name}`);
  }

  function renderMessage(message) {
    const mine = !message.from_bot && message.user === state.me?.id;
    const forMe = message.type === "message" && mentionsMe(message);
    const row = node("div", "msg");
    row.dataset.id = message.id;
    row.classList.add(message.from_bot ? "bot" : mine ? "mine" : "other");
    if (forMe) row.classList.add("mentions-me");

    if (!mine) {
      const avatar = node("div", "avatar", message.from_bot ? "助" : Array.from(message.name || "?")[0]);
      if (!message.from_bot) avatar.style.background = avatarColor(message.user);
      avatar.setAttribute("aria-hidden", "true");
      row.append(avatar);
    }

    const body = node("div", "body");
    const meta = node("div", "meta");
    if (!mine) {
      const name = node("span", "name", message.name);
      name.title = "点一下 @ 这个人";
      name.addEventListener("click", () => insertMention(message.name));
      meta.append(name);
      const label = message.from_bot ? "助手" : roleLabel(message.user);
      if (label) meta.append(node("span", "role", label));
    }
    meta.append(node("time", "time", formatTime(message.time)));
    body.append(meta);

    const bubble = node("div", "bubble");
    const quote = quoteOf(message);
    if (quote) bubble.append(node("div", "quote", `${quote.name}:${quote.text}`));
    const text = node("div", "text");
    text.append(highlightMentions(message));
    bubble.append(text);
    if (message.type === "message") {
      bubble.title = "点一下回复这条消息";
      bubble.addEventListener("click", () => setReply(message));
    }
    body.append(bubble);
    if (forMe) body.append(node("span", "tag-me", "@我"));
    row.append(body);
    return row;
  }

  function quoteOf(message) {
    if (!message.reply_to) return null;
    const known = state.messages.get(message.reply_to);
    if (known) return { name: known.name, text: known.text };
    return message.quote || { name: "", text: "一条较早的消息" };
  }

  // "@name" for every name the page knows, longest first so "@李芳芳" is not read as "@李芳".
  function knownNames(message) {
    const names = new Set([state.botName]);
    for (const person of state.people.values()) names.add(person.name);
    for (const other of state.messages.values()) names.add(other.name);
    for (const mention of message.mentions || []) names.add(mention.name);
    if (state.me) names.add(state.me.name);
    names.delete("");
    return Array.from(names).sort((a, b) => b.length - a.length);
  }

  function highlightMentions(message) {
    const text = message.text;
    const fragment = document.createDocumentFragment();
    const names = knownNames(message);
    const myNames = new Set((message.mentions || []).filter((m) => m.user_id === state.me?.id).map((m) => m.name));
    let plainStart = 0;
    for (let index = 0; index < text.length; index += 1) {
      if (text[index] !== "@" && text[index] !== "＠") continue;
      const name = names.find((candidate) => text.startsWith(candidate, index + 1));
      if (!name) continue;
      fragment.append(text.slice(plainStart, index));
      const isMe = myNames.has(name) || (state.me && name === state.me.name);
      fragment.append(node("span", isMe ? "at me" : "at", text.slice(index, index + 1 + name.length)));
      index += name.length;
      plainStart = index + 1;
    }
    fragment.append(text.slice(plainStart));
    return fragment;
  }

  // ---- composing ----

  function updateComposer() {
    const ready = state.connected && state.joined;
    el.sayButton.disabled = !ready;
    el.privateSend.disabled = !ready;
    // While disconnected the status line belongs to the reconnect countdown.
    if (state.connected) setConnStatus(state.groupId && !state.joined ? "正在进入群聊…" : "");
  }

  function setReply(message) {
    state.replyTo = message;
    el.replyBar.hidden = !message;
    if (message) {
      el.replyText.textContent = `回复 ${message.name}:${message.text}`;
      el.sayInput.focus();
    }
  }

  function insertMention(name) {
    const input = el.sayInput;
    const before = input.value && !/\s$/.test(input.value) ? " " : "";
    input.value += `${before}@${name} `;
    autoGrow(input);
    input.focus();
  }

  function autoGrow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight + 2, 120)}px`;
  }

  function submitSay(event) {
    event.preventDefault();
    const text = el.sayInput.value.trim();
    if (!text) return;
    const frame = { type: "say", text, reply_to: state.replyTo ? state.replyTo.id : null };
    if (!state.joined || !send(frame)) return;
    el.sayInput.value = "";
    autoGrow(el.sayInput);
    setReply(null);
  }

  function submitPrivate(event) {
    event.preventDefault();
    const text = el.privateInput.value.trim();
    if (!text) return;
    if (!state.joined || !send({ type: "say_private", text })) return;
    el.privateInput.value = "";
    autoGrow(el.privateInput);
  }

  // Enter sends on a keyboard; on a phone Enter is a new line and the 发送 button sends. A Chinese
  // input method uses Enter to confirm its candidate, which must never send.
  const touchScreen = window.matchMedia("(pointer: coarse)").matches;
  function sendOnEnter(form) {
    return (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229 || touchScreen) return;
      event.preventDefault();
      form.requestSubmit();
    };
  }

  // ---- private panel ----

  function seenKey() {
    return `privateSeen.${state.me ? state.me.id : ""}`;
  }

  function updateBadge() {
    // Compared as instants: the server's times may carry any offset.
    const seen = Number(store.get(seenKey()) || 0);
    if (!el.privatePanel.hidden && state.privates.length) {
      store.set(seenKey(), String(Date.parse(state.privates[state.privates.length - 1].time)));
    }
    const unread = el.privatePanel.hidden
      ? state.privates.filter((m) => m.from_bot && Date.parse(m.time) > seen).length
      : 0;
    el.privateBadge.hidden = unread === 0;
    el.privateBadge.textContent = unread > 99 ? "99+" : String(unread);
  }

  function openPrivate() {
    el.toast.hidden = true;
    el.privatePanel.hidden = false;
    scrollToBottom(el.privateMessages);
    updateBadge();
    el.privateInput.focus();
  }

  function closePrivate() {
    el.privatePanel.hidden = true;
    updateBadge();
  }

  // ---- start ----

  function wire() {
    el.setupForm.addEventListener("submit", enterChat);
    el.identitySelect.addEventListener("change", updateGuestFields);
    el.switchButton.addEventListener("click", leaveChat);
    el.sayForm.addEventListener("submit", submitSay);
    el.privateForm.addEventListener("submit", submitPrivate);
    el.sayInput.addEventListener("keydown", sendOnEnter(el.sayForm));
    el.privateInput.addEventListener("keydown", sendOnEnter(el.privateForm));
    el.sayInput.addEventListener("input", () => autoGrow(el.sayInput));
    el.privateInput.addEventListener("input", () => autoGrow(el.privateInput));
    el.replyCancel.addEventListener("click", () => setReply(null));
    el.privateButton.addEventListener("click", openPrivate);
    el.privateClose.addEventListener("click", closePrivate);
    el.jumpButton.addEventListener("click", () => { scrollToBottom(el.messages); hideJump(); });
    el.messages.addEventListener("scroll", () => { if (isNearBottom(el.messages)) hideJump(); });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.groupId) document.title = `${state.groups.get(state.groupId)?.name || ""} · 楼栋群聊`;
    });
  }

  async function main() {
    wire();
    connect();
    const directory = await loadDirectory();
    for (const group of directory.groups || []) state.groups.set(group.id, group);
    for (const person of directory.people || []) state.people.set(person.id, person);
    fillGroupSelect(directory.groups || []);
    fillIdentitySelect(directory.people || []);
    restoreChoices();
    el.setupStatus.textContent = "";
    for (const control of [el.groupSelect, el.identitySelect, el.enterButton]) control.disabled = false;
    // Coming back to the page goes straight back into the chat it was showing.
    if (store.get("entered") === "1" && chosenIdentity() && state.groups.has(el.groupSelect.value)) enterChat();
  }

  main();
})();
