// The web chat of the local Bot API server (see localchat/webchat/__init__.py).
//
// One person plays one user of the server's first bot through the control API
// (/_control/...): texts and commands, photos (as photo or as file), button
// presses. The chat is drawn from /_control/chats/{id}/feed, a long poll that
// answers with the whole chat whenever anything in it changes; messages are
// matched by message_id, so edits replace a message in place and deletions
// remove it. No external requests, no libraries.
"use strict";

(() => {
  const CONTROL = "/_control/";
  const FEED_TIMEOUT_S = 25;
  const ACTION_SECONDS = 5; // a chat action shows for 5 s or until the bot's next message
  const CALLBACK_SPINNER_MS = 15000;
  const PHOTO_MAX_SIDE = 2560; // Telegram clients send photos at most this large
  const PHOTO_MAX_BYTES = 10 * 1024 * 1024;
  const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  const USER_KEY = "webchat.user_id";
  const SECRET_KEY = "webchat.control_secret";
  const DEFAULT_NAME = "사용자";

  const ACTIONS = {
    typing: "입력 중…",
    upload_photo: "사진 보내는 중…",
    record_video: "동영상 녹화 중…",
    upload_video: "동영상 보내는 중…",
    record_voice: "음성 녹음 중…",
    upload_voice: "음성 보내는 중…",
    upload_document: "파일 보내는 중…",
    choose_sticker: "스티커 고르는 중…",
    find_location: "위치 찾는 중…",
    record_video_note: "영상 메시지 녹화 중…",
    upload_video_note: "영상 메시지 보내는 중…",
  };
  const KIND_NAMES = {
    photo: "사진", document: "파일", video: "동영상", voice: "음성 메시지", audio: "오디오",
    sticker: "스티커", animation: "GIF", video_note: "영상 메시지",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    messages: $("messages"), empty: $("empty"), status: $("status"), botName: $("bot-name"),
    avatar: $("avatar"), banner: $("banner"), composer: $("composer"), text: $("text"),
    send: $("send"), attach: $("attach"), fileInput: $("file-input"), menuButton: $("menu-button"),
    commandMenu: $("command-menu"), replyKeyboard: $("reply-keyboard"), restart: $("restart"),
    photoDialog: $("photo-dialog"), photoForm: $("photo-form"), photoPreview: $("photo-preview"),
    photoInfo: $("photo-info"), photoCaption: $("photo-caption"), photoCancel: $("photo-cancel"),
    alertDialog: $("alert-dialog"), alertText: $("alert-text"), toast: $("toast"),
  };

  const state = {
    secret: null,
    userId: null,
    user: null,
    bot: null,
    version: "",
    rendered: new Map(), // message_id -> {key, node}
    messages: [],
    actionCount: null,
    actionTimer: null,
    actionHideAt: 0,
    actionMaxBotId: 0,
    pendingCallbacks: new Map(), // callback_query_id -> button
    seenAnswers: new Set(),
    hiddenKeyboards: new Set(),
    commands: [],
    pendingFile: null,
    feedGeneration: 0,
  };

  // --- control API ------------------------------------------------------------------------
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (state.secret) h["X-Control-Secret"] = state.secret;
    return h;
  }

  class ControlFailure extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // The control secret: the server's random one, which only this page's own origin can
  // read (GET /_control/secret), or one given as #secret=... when the server was started
  // with --control-secret. Fetched again after a 403 (the server may have restarted).
  let secretRequest = null;
  function fetchSecret() {
    if (!secretRequest) {
      secretRequest = fetch(CONTROL + "secret", { cache: "no-store", credentials: "same-origin" })
        .then((r) => r.json())
        .then((data) => (data && data.ok && data.secret) || null)
        .catch(() => null)
        .finally(() => { secretRequest = null; });
    }
    return secretRequest;
  }

  async function control(method, path, body, options) {
    if (!state.secret) state.secret = await fetchSecret();
    let response = await send(method, path, body, options);
    if (response.status === 403) {
      const used = state.secret;
      const fresh = await fetchSecret();
      if (fresh && fresh !== used) {
        state.secret = fresh;
        response = await send(method, path, body, options);
      }
    }
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!response.ok || !data || !data.ok) {
      throw new ControlFailure(response.status, (data && data.error) || `HTTP ${response.status}`);
    }
    return data;
  }

  async function send(method, path, body, options) {
    const init = { method, headers: headers(), signal: options && options.signal };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    try {
      return await fetch(CONTROL + path, init);
    } catch (error) {
      throw new ControlFailure(0, "서버에 연결할 수 없습니다");
    }
  }

  // --- the user --------------------------------------------------------------------------------
  function readSettings() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (hash.get("secret")) {
      sessionStorage.setItem(SECRET_KEY, hash.get("secret"));
      history.replaceState(null, "", location.pathname + location.search);
    }
    state.secret = sessionStorage.getItem(SECRET_KEY);
    const query = new URLSearchParams(location.search);
    const fromQuery = parseInt(query.get("user") || "", 10);
    const stored = parseInt(localStorage.getItem(USER_KEY) || "", 10);
    state.userId = Number.isFinite(fromQuery) ? fromQuery : (Number.isFinite(stored) ? stored : null);
    state.name = query.get("name") || DEFAULT_NAME;
  }

  async function ensureUser() {
    const body = { first_name: state.name, language_code: "ko" };
    if (state.userId !== null) body.user_id = state.userId;
    const answer = await control("POST", "users", body);
    state.user = answer.user;
    state.userId = answer.user.id;
    localStorage.setItem(USER_KEY, String(state.userId));
    document.body.dataset.userId = String(state.userId);
  }

  async function restart() {
    localStorage.removeItem(USER_KEY);
    state.userId = null;
    state.version = "";
    for (const { node } of state.rendered.values()) node.remove();
    state.rendered.clear();
    clearDateChips();
    state.hiddenKeyboards.clear();
    state.actionCount = null;
    await ensureUser();
    state.feedGeneration += 1;
    followFeed(state.feedGeneration);
  }

  // --- sending ----------------------------------------------------------------------------------
  function userFields() { return { user_id: state.userId }; }

  async function sendText(text) {
    text = text.trim();
    if (!text) return;
    try {
      await control("POST", "updates/text", Object.assign(userFields(), { text }));
    } catch (error) {
      toast(`보내지 못했습니다: ${error.message}`);
      throw error;
    }
  }

  async function pressButton(messageId, button, node) {
    if (node.classList.contains("pending")) return;
    node.classList.add("pending");
    try {
      const answer = await control("POST", "updates/callback",
        Object.assign(userFields(), { message_id: messageId, data: button.callback_data }));
      state.pendingCallbacks.set(answer.callback_query_id, node);
      setTimeout(() => {
        if (state.pendingCallbacks.get(answer.callback_query_id) === node) {
          state.pendingCallbacks.delete(answer.callback_query_id);
          node.classList.remove("pending");
        }
      }, CALLBACK_SPINNER_MS);
    } catch (error) {
      node.classList.remove("pending");
      toast(`버튼을 누를 수 없습니다: ${error.message}`);
    }
  }

  function loadImage(file) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const image = new Image();
      image.onload = () => resolve({ image, url });
      image.onerror = () => { URL.revokeObjectURL(url); reject(new Error("decode")); };
      image.src = url;
    });
  }

  // What a Telegram client does before sending a photo: at most 2560 px and 10 MB, JPEG.
  async function compressForPhoto(file) {
    let loaded;
    try { loaded = await loadImage(file); } catch (error) { return file; }
    const { image, url } = loaded;
    URL.revokeObjectURL(url);
    const longer = Math.max(image.naturalWidth, image.naturalHeight);
    if (longer <= PHOTO_MAX_SIDE && file.size <= PHOTO_MAX_BYTES && PHOTO_TYPES.includes(file.type)) {
      return file;
    }
    const scale = Math.min(1, PHOTO_MAX_SIDE / longer);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
    canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (!blob) return file;
    const name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
    return new File([blob], name, { type: "image/jpeg" });
  }

  async function sendFile(file, asPhoto, caption) {
    const form = new FormData();
    form.append("user_id", String(state.userId));
    if (caption) form.append("caption", caption);
    let path;
    if (asPhoto) {
      path = "updates/photo";
      const photo = await compressForPhoto(file);
      form.append("file", photo, photo.name || "photo.jpg");
    } else {
      path = "updates/document";
      form.append("file_name", file.name || "file");
      if (file.type) form.append("mime_type", file.type);
      form.append("file", file, file.name || "file");
    }
    setBusy(true);
    try {
      await control("POST", path, form);
    } catch (error) {
      toast(asPhoto ? `사진을 보낼 수 없습니다: ${error.message}` : `파일을 보낼 수 없습니다: ${error.message}`);
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    el.attach.disabled = busy;
    el.send.disabled = busy;
    document.body.classList.toggle("uploading", busy);
  }

  // --- the photo dialog -----------------------------------------------------------------------------
  async function openPhotoDialog(file) {
    state.pendingFile = file;
    el.photoCaption.value = "";
    el.photoForm.elements["send-as"].value = file.type.startsWith("image/") ? "photo" : "document";
    el.photoInfo.textContent = `${file.name || "사진"} · ${formatSize(file.size)}`;
    if (el.photoPreview.src) URL.revokeObjectURL(el.photoPreview.src);
    el.photoPreview.hidden = !file.type.startsWith("image/");
    el.photoPreview.src = file.type.startsWith("image/") ? URL.createObjectURL(file) : "";
    if (typeof el.photoDialog.showModal === "function") el.photoDialog.showModal();
    else el.photoDialog.setAttribute("open", "");
    el.photoCaption.focus();
  }

  function closePhotoDialog() {
    if (el.photoDialog.open) el.photoDialog.close();
    state.pendingFile = null;
  }

  // --- rendering: text with entities ----------------------------------------------------------------
  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return ["http:", "https:", "mailto:", "tel:", "tg:"].includes(parsed.protocol) ? parsed.href : null;
    } catch (error) {
      return null;
    }
  }

  function entityNode(entity, content) {
    let node;
    switch (entity.type) {
      case "bold": node = document.createElement("b"); break;
      case "italic": node = document.createElement("i"); break;
      case "underline": node = document.createElement("u"); break;
      case "strikethrough": node = document.createElement("s"); break;
      case "code": node = document.createElement("code"); break;
      case "pre": {
        node = document.createElement("pre");
        const code = document.createElement("code");
        if (entity.language) code.dataset.language = entity.language;
        node.appendChild(code);
        return { outer: node, inner: code };
      }
      case "blockquote":
      case "expandable_blockquote": node = document.createElement("blockquote"); break;
      case "spoiler":
        node = document.createElement("span");
        node.className = "spoiler";
        node.addEventListener("click", () => node.classList.add("revealed"));
        break;
      case "text_link":
      case "url":
      case "email":
      case "phone_number": {
        let href = entity.type === "text_link" ? entity.url : content;
        if (entity.type === "email") href = `mailto:${content}`;
        if (entity.type === "phone_number") href = `tel:${content}`;
        if (entity.type === "url" && !/^[a-z]+:/i.test(content)) href = `http://${content}`;
        const safe = safeUrl(href);
        node = document.createElement(safe ? "a" : "span");
        if (safe) { node.href = safe; node.target = "_blank"; node.rel = "noopener noreferrer"; }
        break;
      }
      case "bot_command":
        node = document.createElement("a");
        node.href = "#";
        node.className = "command";
        node.dataset.command = content;
        break;
      case "mention":
      case "hashtag":
      case "cashtag":
        node = document.createElement("span");
        node.className = "mention";
        break;
      default:
        node = document.createElement("span");
        node.className = `entity-${entity.type}`;
    }
    return { outer: node, inner: node };
  }

  // Telegram's offsets count UTF-16 code units, which is what JavaScript strings index.
  function buildEntities(parent, text, entities, start, end) {
    let pos = start;
    let i = 0;
    while (i < entities.length) {
      const entity = entities[i];
      if (entity.offset < pos || entity.offset >= end) { i += 1; continue; }
      if (entity.offset > pos) parent.appendChild(document.createTextNode(text.slice(pos, entity.offset)));
      const stop = Math.min(entity.offset + entity.length, end);
      const inner = [];
      let j = i + 1;
      while (j < entities.length && entities[j].offset < stop) { inner.push(entities[j]); j += 1; }
      const { outer, inner: target } = entityNode(entity, text.slice(entity.offset, stop));
      buildEntities(target, text, inner, entity.offset, stop);
      parent.appendChild(outer);
      pos = stop;
      i = j;
    }
    if (pos < end) parent.appendChild(document.createTextNode(text.slice(pos, end)));
  }

  // Telegram's server marks /commands, links and @mentions in every message; where the
  // message does not carry them (the local server only parses the markup), find them here.
  const AUTO_PATTERNS = [
    ["bot_command", /(^|[^\w/])(\/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)(?![\w/])/g],
    ["url", /(^|[^\w])(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'])/g],
    ["mention", /(^|[^\w@])(@[A-Za-z0-9_]{5,32})(?!\w)/g],
  ];
  const NO_AUTO_INSIDE = new Set(["code", "pre", "text_link", "url", "bot_command", "mention",
    "email", "phone_number", "text_mention", "custom_emoji"]);

  function autoEntities(text, entities) {
    const found = [];
    for (const [type, pattern] of AUTO_PATTERNS) {
      pattern.lastIndex = 0;
      let match;
      while ((match = pattern.exec(text)) !== null) {
        const offset = match.index + match[1].length;
        const end = offset + match[2].length;
        const clash = entities.concat(found).some((e) => {
          const eEnd = e.offset + e.length;
          const overlaps = offset < eEnd && e.offset < end;
          const inside = e.offset <= offset && end <= eEnd;
          return overlaps && (!inside || NO_AUTO_INSIDE.has(e.type));
        });
        if (!clash) found.push({ type, offset, length: end - offset });
      }
    }
    return found;
  }

  function formattedText(text, entities) {
    const node = document.createElement("div");
    node.className = "text";
    const given = entities || [];
    const sorted = given.concat(autoEntities(text, given))
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    buildEntities(node, text, sorted, 0, text.length);
    return node;
  }

  // --- rendering: messages ------------------------------------------------------------------------
  function formatSize(bytes) {
    if (bytes === undefined || bytes === null) return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function formatTime(date) {
    return new Date(date * 1000).toLocaleTimeString("ko-KR", { hour: "numeric", minute: "2-digit" });
  }

  function formatDay(date) {
    return new Date(date * 1000).toLocaleDateString("ko-KR", { month: "long", day: "numeric", weekday: "short" });
  }

  // Files (/_control/files/{file_id}) need no secret: the random file_id is their key.
  function setImage(img, url) {
    img.addEventListener("error", () => { img.alt = "이미지를 불러올 수 없습니다"; }, { once: true });
    img.src = url;
  }

  function senderName(payload) {
    const from = payload.from || {};
    return [from.first_name, from.last_name].filter(Boolean).join(" ") || "봇";
  }

  function snippet(payload) {
    if (payload.text) return payload.text;
    for (const kind of Object.keys(KIND_NAMES)) {
      if (payload[kind]) return payload.caption ? `${KIND_NAMES[kind]} · ${payload.caption}` : KIND_NAMES[kind];
    }
    return "메시지";
  }

  function replyQuote(payload) {
    const quoted = payload.reply_to_message;
    if (!quoted) return null;
    const node = document.createElement("div");
    node.className = "reply-quote";
    const name = document.createElement("b");
    name.textContent = senderName(quoted);
    const body = document.createElement("span");
    body.textContent = snippet(quoted);
    node.append(name, body);
    node.addEventListener("click", () => {
      const target = state.rendered.get(quoted.message_id);
      if (!target) return;
      target.node.scrollIntoView({ behavior: "smooth", block: "center" });
      target.node.classList.remove("flash");
      void target.node.offsetWidth;
      target.node.classList.add("flash");
    });
    return node;
  }

  function photoNode(view) {
    const sizes = view.photo || [];
    const largest = sizes[sizes.length - 1] || {};
    const link = document.createElement("a");
    link.className = "photo-link";
    link.href = view.file_url;
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.className = "photo";
    img.alt = view.from_bot ? "봇이 보낸 사진" : "보낸 사진";
    if (largest.width && largest.height) { img.width = largest.width; img.height = largest.height; }
    img.decoding = "async";
    img.addEventListener("load", () => { img.dataset.loaded = "1"; keepBottom(); });
    setImage(img, view.file_url);
    link.appendChild(img);
    return link;
  }

  function fileNode(view) {
    const media = view[view.kind] || {};
    const mime = media.mime_type || "";
    if (view.kind === "sticker") {
      const img = document.createElement("img");
      img.className = "sticker";
      img.alt = media.emoji || "스티커";
      setImage(img, view.file_url);
      return img;
    }
    if (view.kind === "video" || view.kind === "animation" || view.kind === "video_note") {
      const video = document.createElement("video");
      video.controls = true;
      video.preload = "metadata";
      if (view.kind === "animation") { video.autoplay = true; video.loop = true; video.muted = true; }
      video.src = view.file_url;
      return video;
    }
    if (view.kind === "voice" || view.kind === "audio") {
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = view.file_url;
      return audio;
    }
    const node = document.createElement("a");
    node.className = "document";
    node.href = view.file_url;
    node.target = "_blank";
    node.rel = "noopener";
    node.download = media.file_name || "";
    const icon = document.createElement("div");
    icon.className = "doc-icon";
    if (mime.startsWith("image/")) {
      const thumb = document.createElement("img");
      thumb.alt = "";
      setImage(thumb, view.file_url);
      icon.appendChild(thumb);
    } else {
      icon.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 2h8l6 6v14H6zm7 1.5V9h5.5z"/></svg>';
    }
    const info = document.createElement("div");
    const name = document.createElement("div");
    name.className = "doc-name";
    name.textContent = media.file_name || KIND_NAMES[view.kind] || "파일";
    const size = document.createElement("div");
    size.className = "doc-size";
    size.textContent = formatSize(media.file_size);
    info.append(name, size);
    node.append(icon, info);
    return node;
  }

  function inlineKeyboard(view) {
    const markup = view.message.reply_markup;
    if (!markup || !markup.inline_keyboard) return null;
    const node = document.createElement("div");
    node.className = "inline-keyboard";
    for (const row of markup.inline_keyboard) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = button.text;
        b.title = button.text;
        if (button.callback_data !== undefined) {
          b.dataset.callbackData = button.callback_data;
          b.addEventListener("click", () => pressButton(view.message_id, button, b));
        } else if (button.url) {
          const corner = document.createElement("span");
          corner.className = "corner";
          corner.textContent = "↗";
          b.appendChild(corner);
          b.addEventListener("click", () => {
            const safe = safeUrl(button.url);
            if (safe && confirm(`이 링크를 여시겠습니까?\n${safe}`)) window.open(safe, "_blank", "noopener");
          });
        } else if (button.copy_text) {
          b.addEventListener("click", async () => {
            try { await navigator.clipboard.writeText(button.copy_text.text); toast("복사했습니다"); }
            catch (error) { toast(button.copy_text.text); }
          });
        } else {
          b.addEventListener("click", () => toast("이 버튼은 웹 채팅에서 지원하지 않습니다"));
        }
        line.appendChild(b);
      }
      node.appendChild(line);
    }
    return node;
  }

  function messageNode(view) {
    const payload = view.message;
    const node = document.createElement("div");
    node.className = `msg ${view.from_bot ? "bot" : "user"}`;
    node.dataset.messageId = String(view.message_id);
    node.dataset.kind = view.kind;
    node.dataset.date = String(view.date);
    if (view.reply_to_message_id) node.dataset.replyTo = String(view.reply_to_message_id);
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const quote = replyQuote(payload);
    if (quote) bubble.appendChild(quote);
    const body = view.kind === "text" ? view.text : view.caption;
    const entities = view.kind === "text" ? view.entities : view.caption_entities;
    const text = body ? formattedText(body, entities) : null;
    if (text && view.kind !== "text") text.classList.add("caption");
    const above = payload.show_caption_above_media;
    if (view.kind === "text") {
      bubble.appendChild(text);
    } else {
      bubble.classList.add("media");
      if (["photo", "video", "animation", "sticker", "video_note"].includes(view.kind)) {
        bubble.classList.add("visual"); // the time sits on the picture when there is no caption
      }
      if (!text) bubble.classList.add("no-text");
      if (above && text) { bubble.appendChild(text); bubble.classList.add("media-caption-above"); }
      bubble.appendChild(view.kind === "photo" ? photoNode(view) : fileNode(view));
      if (!above && text) bubble.appendChild(text);
    }
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = (view.edit_date ? "수정됨 " : "") + formatTime(view.date);
    (text || bubble).appendChild(meta);
    node.appendChild(bubble);
    const keyboard = inlineKeyboard(view);
    if (keyboard) node.appendChild(keyboard);
    return node;
  }

  function clearDateChips() {
    for (const chip of el.messages.querySelectorAll(".date-chip")) chip.remove();
  }

  function placeDateChips(visible) {
    clearDateChips();
    let day = null;
    for (const view of visible) {
      const current = new Date(view.date * 1000).toDateString();
      if (current === day) continue;
      day = current;
      const chip = document.createElement("div");
      chip.className = "date-chip";
      chip.textContent = formatDay(view.date);
      el.messages.insertBefore(chip, state.rendered.get(view.message_id).node);
    }
  }

  function nearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 120;
  }

  let stickToBottom = true;
  function keepBottom() {
    if (stickToBottom) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function renderMessages(views) {
    const wasNear = nearBottom();
    const visible = views.filter((v) => !v.deleted);
    const keep = new Set(visible.map((v) => v.message_id));
    for (const [id, entry] of state.rendered) {
      if (!keep.has(id)) { entry.node.remove(); state.rendered.delete(id); }
    }
    clearDateChips();
    let added = false;
    let addedByUser = false;
    let previous = el.empty;
    for (const view of visible) {
      const key = JSON.stringify([view.message, view.reply_markup || null]);
      let entry = state.rendered.get(view.message_id);
      if (!entry || entry.key !== key) {
        const node = messageNode(view);
        if (entry) {
          entry.node.replaceWith(node); // an edit: in place
        } else {
          added = true;
          addedByUser = addedByUser || !view.from_bot;
        }
        entry = { key, node };
        state.rendered.set(view.message_id, entry);
      }
      if (previous.nextSibling !== entry.node) el.messages.insertBefore(entry.node, previous.nextSibling);
      previous = entry.node;
    }
    placeDateChips(visible);
    el.empty.hidden = visible.length > 0;
    state.messages = views;
    if (added) {
      stickToBottom = wasNear || addedByUser;
      keepBottom();
    }
  }

  // --- reply keyboards and the command menu ---------------------------------------------------------
  function renderReplyKeyboard(views) {
    let markup = null;
    let owner = null;
    for (const view of views) {
      if (!view.from_bot || view.deleted || !view.reply_markup) continue;
      if (view.reply_markup.keyboard || view.reply_markup.remove_keyboard) {
        markup = view.reply_markup;
        owner = view.message_id;
      }
    }
    const node = el.replyKeyboard;
    node.replaceChildren();
    const shown = Boolean(markup && markup.keyboard && !state.hiddenKeyboards.has(owner));
    setPlaceholder(shown ? markup.input_field_placeholder : null);
    if (!shown) { node.hidden = true; return; }
    for (const row of markup.keyboard) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const label = typeof button === "string" ? button : button.text;
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.addEventListener("click", () => {
          if (markup.one_time_keyboard) {
            state.hiddenKeyboards.add(owner);
            node.hidden = true;
            setPlaceholder(null);
          }
          sendText(label).catch(() => {});
        });
        line.appendChild(b);
      }
      node.appendChild(line);
    }
    node.hidden = false;
  }

  function setPlaceholder(text) {
    const placeholder = text || "메시지";
    if (el.text.placeholder !== placeholder) el.text.placeholder = placeholder;
  }

  function renderCommands(commands) {
    const key = JSON.stringify(commands);
    if (key === JSON.stringify(state.commands)) return;
    state.commands = commands;
    el.menuButton.hidden = commands.length === 0;
    el.commandMenu.replaceChildren();
    for (const command of commands) {
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("role", "menuitem");
      b.dataset.command = `/${command.command}`;
      const name = document.createElement("span");
      name.className = "cmd";
      name.textContent = `/${command.command}`;
      const description = document.createElement("span");
      description.className = "desc";
      description.textContent = command.description;
      b.append(name, description);
      b.addEventListener("click", () => {
        el.commandMenu.hidden = true;
        sendText(`/${command.command}`).catch(() => {});
      });
      el.commandMenu.appendChild(b);
    }
  }

  // --- chat actions and callback answers -------------------------------------------------------------
  function setStatus(action) {
    const label = action && ACTIONS[action];
    el.status.textContent = label || "봇";
    el.status.dataset.action = label ? action : "";
    el.status.classList.toggle("active", Boolean(label));
  }

  function hideAction() {
    clearTimeout(state.actionTimer);
    state.actionHideAt = 0;
    setStatus(null);
  }

  // Telegram shows a chat action for 5 seconds, or until the bot's next message.
  function renderAction(feed) {
    const maxBotId = feed.messages.reduce((m, v) => (v.from_bot && v.message_id > m ? v.message_id : m), 0);
    const action = feed.action;
    const isNew = Boolean(action) && feed.action_count !== state.actionCount;
    state.actionCount = feed.action_count;
    if (isNew) {
      const age = Math.max(0, feed.now - action.date);
      const endedBy = feed.messages.some((v) => v.from_bot && !v.deleted && v.date > action.date);
      if (age < ACTION_SECONDS && !endedBy) {
        clearTimeout(state.actionTimer);
        state.actionHideAt = Date.now() + (ACTION_SECONDS - age) * 1000;
        state.actionMaxBotId = maxBotId;
        setStatus(action.action);
        state.actionTimer = setTimeout(hideAction, state.actionHideAt - Date.now());
      }
    } else if (state.actionHideAt && maxBotId > state.actionMaxBotId) {
      hideAction();
    }
  }

  function renderAnswers(answers) {
    for (const answer of answers) {
      const id = answer.callback_query_id;
      if (state.seenAnswers.has(id)) continue;
      state.seenAnswers.add(id);
      const button = state.pendingCallbacks.get(id);
      state.pendingCallbacks.delete(id);
      if (button) button.classList.remove("pending");
      if (!button) continue; // answered before this page was open
      if (answer.url) {
        const safe = safeUrl(answer.url);
        if (safe) window.open(safe, "_blank", "noopener");
      }
      if (!answer.text) continue;
      if (answer.show_alert) showAlert(answer.text);
      else toast(answer.text);
    }
  }

  // --- following the chat ------------------------------------------------------------------------------
  function render(feed) {
    state.bot = feed.bot;
    const name = [feed.bot.first_name, feed.bot.last_name].filter(Boolean).join(" ");
    el.botName.textContent = name;
    el.avatar.textContent = Array.from(name.trim())[0] || "봇";
    document.title = `${name} – 웹 채팅`;
    renderMessages(feed.messages);
    renderReplyKeyboard(feed.messages);
    renderCommands(feed.commands || []);
    renderAction(feed);
    renderAnswers(feed.answers || []);
    document.body.dataset.version = feed.version;
    document.body.dataset.ready = "1";
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  async function followFeed(generation) {
    let failures = 0;
    while (generation === state.feedGeneration) {
      const query = new URLSearchParams({ timeout: String(FEED_TIMEOUT_S) });
      if (state.version) query.set("since", state.version);
      try {
        const feed = await control("GET", `chats/${state.userId}/feed?${query}`);
        if (generation !== state.feedGeneration) return;
        failures = 0;
        el.banner.hidden = true;
        state.version = feed.version;
        render(feed);
      } catch (error) {
        if (generation !== state.feedGeneration) return;
        failures += 1;
        if (error.status === 404) {
          // the server was restarted or reset: the chat is gone, start it again
          state.version = "";
          try { await ensureUser(); continue; } catch (again) { /* fall through to the banner */ }
        }
        el.banner.textContent = error.status === 403
          ? "제어 API 비밀값이 필요합니다: 주소 끝에 #secret=… 를 붙여 여세요."
          : "서버와 연결이 끊겼습니다. 다시 연결하는 중…";
        el.banner.hidden = false;
        setStatus(null);
        el.status.textContent = "연결 중…";
        await sleep(Math.min(5000, 500 * failures));
      }
    }
  }

  // --- small UI helpers ------------------------------------------------------------------------------------
  let toastTimer = null;
  function toast(text) {
    el.toast.textContent = text;
    el.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.hidden = true; }, 3500);
  }

  function showAlert(text) {
    el.alertText.textContent = text;
    if (typeof el.alertDialog.showModal === "function") el.alertDialog.showModal();
    else alert(text);
  }

  function autosize() {
    el.text.style.height = "auto";
    el.text.style.height = `${Math.min(el.text.scrollHeight, window.innerHeight * 0.3)}px`;
  }

  // --- wiring -------------------------------------------------------------------------------------------------
  function wire() {
    el.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = el.text.value;
      if (!text.trim()) return;
      el.text.value = "";
      autosize();
      sendText(text).catch(() => { el.text.value = text; });
    });
    el.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        el.composer.requestSubmit();
      }
    });
    el.text.addEventListener("input", autosize);
    el.attach.addEventListener("click", () => el.fileInput.click());
    el.fileInput.addEventListener("change", () => {
      const file = el.fileInput.files && el.fileInput.files[0];
      el.fileInput.value = "";
      if (file) openPhotoDialog(file);
    });
    el.photoCancel.addEventListener("click", closePhotoDialog);
    el.photoForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const file = state.pendingFile;
      const asPhoto = el.photoForm.elements["send-as"].value === "photo";
      const caption = el.photoCaption.value.trim();
      closePhotoDialog();
      if (file) sendFile(file, asPhoto, caption);
    });
    el.menuButton.addEventListener("click", (event) => {
      event.stopPropagation();
      el.commandMenu.hidden = !el.commandMenu.hidden;
    });
    document.addEventListener("click", (event) => {
      if (!el.commandMenu.hidden && !el.commandMenu.contains(event.target)) el.commandMenu.hidden = true;
      const command = event.target.closest && event.target.closest("a.command");
      if (command) {
        event.preventDefault();
        sendText(command.dataset.command.replace(/@\w+$/, "")).catch(() => {});
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") el.commandMenu.hidden = true;
    });
    el.restart.addEventListener("click", () => {
      if (confirm("새 사용자로 대화를 다시 시작할까요? (지금 대화는 이 화면에서 사라집니다)")) restart();
    });
    el.messages.addEventListener("scroll", () => { stickToBottom = nearBottom(); });
    for (const type of ["dragenter", "dragover"]) {
      el.messages.addEventListener(type, (event) => {
        event.preventDefault();
        el.messages.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      el.messages.addEventListener(type, () => el.messages.classList.remove("dragging"));
    }
    el.messages.addEventListener("drop", (event) => {
      event.preventDefault();
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) openPhotoDialog(file);
    });
    document.addEventListener("paste", (event) => {
      const file = event.clipboardData && event.clipboardData.files[0];
      if (file) { event.preventDefault(); openPhotoDialog(file); }
    });
  }

  // The page's Korean font (served by the local server) before the first text is drawn:
  // text laid out before it arrives could keep the fallback's empty boxes.
  async function fontsReady() {
    if (!document.fonts || !document.fonts.load) return;
    try {
      await Promise.race([document.fonts.load('16px "Noto Sans KR Local"', "가"), sleep(3000)]);
    } catch (error) { /* the system fonts will do */ }
  }

  async function main() {
    readSettings();
    wire();
    await fontsReady();
    el.text.placeholder = "메시지";
    for (let attempt = 1; ; attempt += 1) {
      try {
        await ensureUser();
        break;
      } catch (error) {
        el.banner.textContent = error.status === 403
          ? "제어 API 비밀값이 필요합니다: 주소 끝에 #secret=… 를 붙여 여세요."
          : `서버에 연결할 수 없습니다 (${error.message}). 다시 시도하는 중…`;
        el.banner.hidden = false;
        await sleep(Math.min(5000, 500 * attempt));
      }
    }
    el.banner.hidden = true;
    setStatus(null);
    state.feedGeneration += 1;
    followFeed(state.feedGeneration);
  }

  window.webchat = { state, sendText, sendFile };
  main();
})();
