/*
 * Plume's chat widget, in the État's design system (DSFR), served by Plume itself.
 *
 *   <script src="https://plume.example.fr/widget.js" data-key="plm_…"></script>
 *
 * Options (data-* attributes of the script tag):
 *   data-key      the widget key, bound to this site's origin and to a commune (required on
 *                 another site than Plume's own)
 *   data-target   CSS selector of an element to render into; without it, a floating button
 *                 opens the chat
 *   data-commune  INSEE code sent with grant questions
 *
 * A widget key is public (it is in the page): it sees the shared corpus only. On Plume's own
 * page, when sign-in is configured, an agent signs in (« Se connecter ») and then sees their
 * commune's documents too; the header names the commune.
 *
 * The chat renders in a shadow root, so the host page's CSS cannot reach it. Every text that
 * comes from the server (answers, titles, excerpts) goes into the page through textContent
 * and DOM nodes, never as HTML; links to sources must be http(s).
 */
(() => {
  "use strict";

  const CONFIG = /*config*/ {} /*end*/;
  const script = document.currentScript;
  if (!script) return;
  const BASE = new URL(script.src, location.href).origin;
  const KEY = script.dataset.key || "";
  const COMMUNE = script.dataset.commune || "";
  const TARGET_SELECTOR = script.dataset.target || "";
  // the agent's session cookie goes with the calls on Plume's own page only
  const CREDENTIALS = BASE === location.origin ? "same-origin" : "omit";
  const KINDS = {
    article: "Loi",
    fiche: "Fiche",
    aide: "Aide",
    document: "Document",
    precedent: "Projet financé",
    programme: "Programme",
  };
  // the reliability levels' DSFR badge colours
  const RELIABILITY = {
    elevee: "fr-badge--success",
    moyenne: "fr-badge--warning",
    faible: "fr-badge--info",
  };
  const MAX_QUESTION = 2000;
  const DATE = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeZone: "UTC" });

  // --- safe DOM building -----------------------------------------------------------------

  /** An element; `props`: class, text, on<event> handlers, other attributes (never HTML). */
  function h(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  /** The URL if it is http(s), else null (no javascript: or data: links from sources). */
  function safeUrl(url) {
    try {
      const parsed = new URL(String(url || ""));
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch {
      return null;
    }
  }

  function frenchDate(iso) {
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso || ""));
    if (!match) return "";
    return DATE.format(new Date(Date.UTC(+match[1], +match[2] - 1, +match[3])));
  }

  /** "en vigueur depuis le …", "en vigueur du … au …" or "mise à jour le …". */
  function dateInForce(c) {
    const from = frenchDate(c.in_force_from);
    const to = frenchDate(c.in_force_to);
    const upTo = frenchDate(c.text_date);
    const snapshot = upTo ? `texte à jour au ${upTo}` : "";
    let when = "";
    if (from && to) when = `en vigueur du ${from} au ${to}`;
    else if (from) when = `en vigueur depuis le ${from}`;
    else if (to) when = `en vigueur jusqu'au ${to}`;
    else if (frenchDate(c.modified)) when = `mise à jour le ${frenchDate(c.modified)}`;
    return [when, snapshot].filter(Boolean).join(", ");
  }

  // --- the server-sent events of POST /v1/chat ---------------------------------------------

  /** Reads an SSE body; calls onEvent(name, data) for each event. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const dispatch = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // line ends may be \r\n (sse-starlette): normalise, keeping a \r that may start one
      const tail = buffer.endsWith("\r") ? "\r" : "";
      let text = (tail ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = text.indexOf("\n\n")) >= 0) {
        dispatch(text.slice(0, cut));
        text = text.slice(cut + 2);
      }
      buffer = text + tail;
    }
  }

  function headers() {
    const out = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (KEY) out["X-Plume-Key"] = KEY;
    return out;
  }

  /** The French message of an error answer, or a generic one. */
  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") return body.error.message;
    } catch {
      /* not JSON */
    }
    return `Plume a répondu par une erreur (${response.status}). Réessayez plus tard.`;
  }

  const UNREACHABLE =
    "Plume est injoignable pour le moment (réseau, ou site non autorisé). Réessayez plus tard.";

  // --- the widget --------------------------------------------------------------------------

  class Chat {
    constructor(root, floating) {
      this.root = root;
      this.floating = floating;
      this.conversationId = null;
      this.turns = 0;
      this.controller = null;
      this.build();
    }

    build() {
      this.status = h("p", { class: "plume-status fr-text--sm", role: "status" });
      this.question = h("textarea", {
        class: "fr-input",
        id: "plume-question",
        name: "question",
        rows: 2,
        maxlength: MAX_QUESTION,
        required: true,
        "aria-describedby": "plume-question-hint",
        onkeydown: (e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            this.form.requestSubmit();
          }
        },
      });
      this.send = h("button", { type: "submit", class: "fr-btn fr-btn--sm", text: "Envoyer" });
      this.form = h(
        "form",
        { class: "plume-form", onsubmit: (e) => this.submit(e) },
        h(
          "div",
          { class: "fr-input-group" },
          h("label", { class: "fr-label", for: "plume-question", text: "Votre question" }),
          h("p", {
            class: "fr-hint-text",
            id: "plume-question-hint",
            text: "Entrée pour envoyer, Maj + Entrée pour aller à la ligne.",
          }),
          this.question,
        ),
        h(
          "div",
          { class: "plume-buttons" },
          this.send,
          h("button", {
            type: "button",
            class: "fr-btn fr-btn--sm fr-btn--secondary",
            text: "Nouvelle conversation",
            onclick: () => this.newConversation(),
          }),
        ),
      );
      this.aiNotice = h("p", { class: "plume-ai-notice fr-text--xs", text: CONFIG.aiNotice || "" });
      // not a live region itself (each answer is one, announced once complete); focusable,
      // as a scrolling area must scroll with the keyboard too
      this.log = h("div", { class: "plume-log", role: "region", "aria-label": "Conversation", tabindex: "0" });
      const heading = h(
        "div",
        { class: "plume-head" },
        h(
          "h2",
          { id: "plume-title", class: "fr-h6" },
          "Plume ",
          h("span", { class: "fr-badge fr-badge--sm fr-badge--info", text: "IA" }),
        ),
        h("p", {
          class: "fr-text--xs plume-subtitle",
          text: "L'assistant des secrétaires de mairie, sourcé par les textes officiels",
        }),
      );
      this.account = h("p", { class: "fr-text--xs plume-account" });
      heading.append(this.account);
      this.showAccount();
      if (this.floating) {
        heading.append(
          h("button", {
            type: "button",
            class: "fr-btn--close fr-btn",
            title: "Fermer Plume",
            text: "Fermer",
            onclick: () => this.toggle(false),
          }),
        );
      }
      const privacy = h(
        "details",
        { class: "plume-privacy" },
        h("summary", { class: "fr-text--xs", text: "Vos données : ce qui est conservé" }),
        h("p", { class: "fr-text--xs", text: CONFIG.privacyNotice || "" }),
      );
      this.panel = h(
        "section",
        {
          class: "plume-panel",
          id: "plume-panel",
          "aria-labelledby": "plume-title",
          hidden: this.floating,
          onkeydown: (e) => {
            if (e.key === "Escape" && this.floating && !e.defaultPrevented) this.toggle(false);
          },
        },
        heading,
        h("div", { class: "plume-notices" }, this.aiNotice, privacy),
        this.log,
        this.status,
        this.form,
      );
      const wrapper = h("div", { class: "plume", lang: "fr" });
      if (this.floating) {
        this.launcher = h("button", {
          type: "button",
          class: "fr-btn plume-launcher",
          "aria-expanded": "false",
          "aria-controls": "plume-panel",
          text: "Poser une question à Plume",
          onclick: () => this.toggle(this.panel.hidden),
        });
        wrapper.append(this.panel, this.launcher);
      } else {
        wrapper.append(this.panel);
      }
      this.root.append(wrapper);
    }

    toggle(open) {
      this.panel.hidden = !open;
      this.launcher.setAttribute("aria-expanded", String(open));
      (open ? this.question : this.launcher).focus();
    }

    say(text) {
      this.status.textContent = text;
    }

    /** Keeps the newest text in view, unless the reader has scrolled up. */
    follow(force = false) {
      const log = this.log;
      if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 160) {
        log.scrollTop = log.scrollHeight;
      }
    }

    newConversation() {
      if (this.controller) this.controller.abort();
      this.conversationId = null;
      this.log.replaceChildren();
      this.question.value = "";
      this.send.disabled = false;
      this.say("Nouvelle conversation commencée.");
      this.question.focus();
    }

    async submit(event) {
      event.preventDefault();
      const question = this.question.value.trim();
      if (!question) {
        this.say("Écrivez d'abord votre question.");
        this.question.focus();
        return;
      }
      if (this.controller) return; // one question at a time
      const turn = new Turn(this, question);
      this.log.append(turn.node);
      this.follow(true);
      this.question.value = "";
      this.send.disabled = true;
      this.say("Plume cherche dans les sources officielles…");
      this.controller = new AbortController();
      const body = { question, stream: true, conversation_id: this.conversationId };
      if (COMMUNE) body.commune = COMMUNE;
      try {
        const response = await fetch(`${BASE}/v1/chat`, {
          method: "POST",
          headers: headers(),
          body: JSON.stringify(body),
          signal: this.controller.signal,
          credentials: CREDENTIALS,
        });
        if (!response.ok) {
          turn.fail(await errorMessage(response));
          this.question.value = question;
        } else {
          await readEvents(response, (name, data) => turn.handle(name, data));
          if (!turn.finished) turn.fail("La réponse a été interrompue. Réessayez.");
        }
      } catch (err) {
        if (err && err.name === "AbortError") return;
        turn.fail(UNREACHABLE);
        this.question.value = question;
      } finally {
        this.controller = null;
        this.send.disabled = false;
      }
    }
  }

  /** A source as one line: its kind, its title linked to the official text, its date. */
  function sourceLine(c, title) {
    const url = safeUrl(c.url);
    const kind = KINDS[c.kind] || "Source";
    return [
      h("span", { class: `fr-badge fr-badge--sm plume-kind plume-kind--${kind}`, text: kind }),
      " ",
      url
        ? h(
            "a",
            { class: "fr-link fr-link--sm", href: url, target: "_blank", rel: "noopener noreferrer" },
            title,
            h("span", { class: "fr-sr-only", text: " (nouvelle fenêtre)" }),
          )
        : h("span", { class: "plume-title", text: title }),
      h("span", { class: "plume-date fr-text--xs", text: dateInForce(c) }),
    ];
  }

  class Turn {
    constructor(chat, question) {
      this.chat = chat;
      this.n = ++chat.turns;
      this.finished = false;
      this.messageId = null;
      this.citations = new Map();
      this.answer = "";
      const id = (name) => `plume-${name}-${this.n}`;
      this.text = h("div", { class: "plume-text", "aria-live": "polite", "aria-busy": "true" });
      this.waiting = h(
        "p",
        { class: "plume-waiting fr-text--sm" },
        h("span", { class: "plume-dots", "aria-hidden": "true" }),
        " Plume cherche dans les sources officielles…",
      );
      this.alert = h("div", { class: "plume-alert", hidden: true });
      this.reliability = h("div", { class: "plume-reliability", hidden: true });
      this.sources = h("ol", { class: "plume-citations", "aria-label": "Sources citées" });
      this.seeAlso = h("div", { class: "plume-see-also", hidden: true });
      this.excerpt = h("div", {
        class: "plume-excerpt",
        id: id("excerpt"),
        role: "region",
        "aria-label": "Extrait de la source",
        tabindex: "-1",
        hidden: true,
        onkeydown: (e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            this.closeExcerpt();
          }
        },
      });
      this.actions = h("div", { class: "plume-actions", hidden: true });
      this.node = h(
        "article",
        { class: "plume-turn", "aria-label": `Échange ${this.n}` },
        h(
          "p",
          { class: "plume-question" },
          h("span", { class: "fr-sr-only", text: "Votre question : " }),
          question,
        ),
        h(
          "div",
          { class: "plume-answer" },
          h("span", { class: "fr-sr-only", text: "Réponse de Plume : " }),
          this.waiting,
          this.text,
          this.alert,
          this.reliability,
          this.sources,
          this.seeAlso,
          this.excerpt,
          this.actions,
        ),
      );
    }

    handle(name, data) {
      if (name === "notice" && data.text) this.chat.aiNotice.textContent = data.text;
      else if (name === "meta") {
        this.chat.conversationId = data.conversation_id || this.chat.conversationId;
        this.messageId = data.message_id || null;
      } else if (name === "delta") {
        if (!this.waiting.hidden) {
          this.waiting.hidden = true;
          this.chat.say("Plume rédige sa réponse…");
        }
        this.answer += data.text || "";
        this.text.append(document.createTextNode(data.text || ""));
        this.chat.follow();
      } else if (name === "reset") {
        this.answer = "";
        this.text.replaceChildren();
        this.chat.say("Plume reprend sa réponse à partir des sources…");
      } else if (name === "citations") {
        this.answer = String(data.answer || "");
        for (const c of data.citations || []) this.citations.set(Number(c.n), c);
        this.renderAnswer();
        this.renderSources();
      } else if (name === "done") {
        this.finished = true;
        this.waiting.hidden = true;
        this.text.setAttribute("aria-busy", "false");
        if (data.mode === "refusal") this.text.classList.add("plume-refusal");
        if (data.mode === "pistes") {
          this.text.classList.add("plume-pistes");
          this.sources.setAttribute("aria-label", "Textes les plus proches, à vérifier");
        }
        if (data.reliability) this.renderReliability(data.reliability);
        if (data.see_also && data.see_also.length) this.renderSeeAlso(data.see_also);
        if (data.warning) this.showAlert("warning", String(data.warning));
        this.renderActions();
        this.chat.follow();
        this.chat.say("Réponse terminée.");
      }
    }

    /** « Fiabilité : élevée » as a badge, and why, one click away. */
    renderReliability(r) {
      this.level = `Fiabilité : ${r.label || r.level}`;
      const level = RELIABILITY[r.level] ? r.level : "faible";
      const reasons = (r.reasons || []).map((x) => h("li", { text: String(x) }));
      this.reliability.replaceChildren(
        h(
          "details",
          { class: "plume-why" },
          h(
            "summary",
            {},
            h("span", {
              class: `fr-badge fr-badge--sm fr-badge--no-icon ${RELIABILITY[level]} plume-level`,
              "data-level": level,
              text: `Fiabilité : ${r.label || level}`,
            }),
            h("span", { class: "fr-text--xs plume-why-label", text: " Pourquoi ?" }),
          ),
          h("ul", { class: "fr-text--xs plume-reasons" }, reasons),
        ),
      );
      this.reliability.hidden = false;
    }

    /** The answer: its lines as paragraphs, its « - » lines as a list (a source's own
     *  enumeration flattened into one line, « … : - a - b », as a nested list), and its [n]
     *  markers as buttons that open the cited excerpt. */
    renderAnswer() {
      const blocks = [];
      let list = null;
      for (const line of this.answer.split("\n")) {
        const item = line.match(/^\s*[-•]\s+(.*)$/);
        if (item) {
          if (!list) {
            list = h("ul", { class: "plume-list" });
            blocks.push(list);
          }
          list.append(this.listItem(item[1]));
        } else if (line.trim()) {
          list = null;
          blocks.push(h("p", { class: "plume-line" }, ...this.withMarkers(line)));
        }
      }
      this.text.replaceChildren(...blocks);
    }

    listItem(text) {
      const parts = text.split(/\s+-\s+(?=\S)/);
      if (parts.length < 3 || !/:\s*$/.test(parts[0])) {
        return h("li", {}, ...this.withMarkers(text));
      }
      const nested = h("ul", { class: "plume-list" });
      for (const part of parts.slice(1)) nested.append(h("li", {}, ...this.withMarkers(part)));
      return h("li", {}, ...this.withMarkers(parts[0]), nested);
    }

    /** A line's text, its [n] markers turned into buttons that open the cited excerpt. */
    withMarkers(line) {
      const parts = [];
      let last = 0;
      for (const m of line.matchAll(/\[(\d+(?:\s*[,;]\s*\d+)*)\]/g)) {
        parts.push(line.slice(last, m.index));
        const numbers = m[1].split(/[,;]/).map((x) => Number(x.trim()));
        for (const n of numbers) {
          const c = this.citations.get(n);
          parts.push(
            c
              ? h("button", {
                  type: "button",
                  class: "plume-marker",
                  text: String(n),
                  "aria-label": `Source ${n} : ${c.title || ""}`,
                  onclick: (e) => this.openExcerpt(c, e.currentTarget),
                })
              : `[${n}]`,
          );
        }
        last = m.index + m[0].length;
      }
      parts.push(line.slice(last));
      return parts.filter((p) => p !== "");
    }

    renderSources() {
      const items = [...this.citations.values()].map((c) => {
        // a commune's document: the page the passage is on
        const title = (c.title || c.doc_id || "Source") + (c.page ? `, p. ${c.page}` : "");
        const read = h("button", {
          type: "button",
          class: "fr-btn fr-btn--sm fr-btn--tertiary-no-outline plume-read",
          "aria-expanded": "false",
          "aria-controls": this.excerpt.id,
          text: "Lire l'extrait",
          "aria-label": `Lire l'extrait de la source ${c.n}`,
          onclick: (e) => this.openExcerpt(c, e.currentTarget),
        });
        return h(
          "li",
          { class: "plume-citation", "data-n": c.n },
          h("span", { class: "plume-n", text: `${c.n}.` }),
          " ",
          ...sourceLine(c, title),
          read,
        );
      });
      this.sources.replaceChildren(...items);
    }

    /** Beside an answer: the next closest texts, not cited, each with its key sentence. */
    renderSeeAlso(texts) {
      const items = texts.map((c) =>
        h(
          "li",
          { class: "plume-also", "data-doc": c.doc_id },
          ...sourceLine(c, c.title || c.doc_id || "Source"),
          h("p", { class: "fr-text--xs plume-also-key", text: `« ${c.excerpt || ""} »` }),
        ),
      );
      this.seeAlso.replaceChildren(
        h("p", { class: "fr-text--sm plume-also-title", text: "À vérifier aussi (textes proches, non cités) :" }),
        h("ul", { class: "plume-also-list", "aria-label": "Autres textes proches, à vérifier" }, items),
      );
      this.seeAlso.hidden = false;
    }

    openExcerpt(c, trigger) {
      if (this.trigger) this.trigger.setAttribute("aria-expanded", "false");
      this.trigger = trigger;
      const url = safeUrl(c.url);
      const page = c.page ? `p. ${c.page}` : "";
      const regime = c.regime ? `Régime particulier : ${c.regime}` : "";
      const meta = [KINDS[c.kind] || "Source", page, regime, c.section, dateInForce(c)].filter(
        Boolean,
      );
      this.excerpt.replaceChildren(
        h("h3", { class: "fr-text--md plume-excerpt-title", text: `${c.n}. ${c.title || ""}` }),
        h("p", { class: "fr-text--xs plume-excerpt-meta", text: meta.join(" — ") }),
        h("blockquote", { class: "plume-excerpt-text", text: c.excerpt || "" }),
        h(
          "div",
          { class: "plume-buttons" },
          url
            ? h("a", {
                class: "fr-link fr-link--sm",
                href: url,
                target: "_blank",
                rel: "noopener noreferrer",
                text: "Lire le texte officiel (nouvelle fenêtre)",
              })
            : null,
          h("button", {
            type: "button",
            class: "fr-btn fr-btn--sm fr-btn--secondary",
            text: "Fermer l'extrait",
            onclick: () => this.closeExcerpt(),
          }),
        ),
      );
      this.excerpt.hidden = false;
      if (trigger && trigger.hasAttribute("aria-expanded")) trigger.setAttribute("aria-expanded", "true");
      this.excerpt.focus();
    }

    closeExcerpt() {
      this.excerpt.hidden = true;
      if (this.trigger) {
        if (this.trigger.hasAttribute("aria-expanded")) this.trigger.setAttribute("aria-expanded", "false");
        this.trigger.focus();
      }
    }

    showAlert(level, message) {
      this.alert.replaceChildren(h("p", { text: message }));
      this.alert.className = `plume-alert fr-alert fr-alert--sm fr-alert--${level}`;
      if (level === "error") this.alert.setAttribute("role", "alert");
      this.alert.hidden = false;
    }

    fail(message) {
      this.finished = true;
      this.waiting.hidden = true;
      this.text.setAttribute("aria-busy", "false");
      this.showAlert("error", message);
      this.chat.say("");
    }

    plainText() {
      const sources = [...this.citations.values()].map(
        (c) => `[${c.n}] ${c.title || ""}${c.url ? " — " + c.url : ""}`,
      );
      const answer = this.level ? `${this.answer}\n\n${this.level}` : this.answer;
      return sources.length ? `${answer}\n\nSources :\n${sources.join("\n")}` : answer;
    }

    async copy() {
      const text = this.plainText();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        // no clipboard API (page not served over https): the selection fallback
        const area = h("textarea", { class: "plume-offscreen", "aria-hidden": "true" });
        area.value = text;
        this.node.append(area);
        area.select();
        const copied = document.execCommand("copy");
        area.remove();
        if (!copied) {
          this.chat.say("Copie impossible : sélectionnez le texte de la réponse.");
          return;
        }
      }
      this.chat.say("Réponse copiée dans le presse-papiers.");
    }

    renderActions() {
      const copy = h("button", {
        type: "button",
        class: "fr-btn fr-btn--sm fr-btn--tertiary",
        text: "Copier la réponse",
        onclick: () => this.copy(),
      });
      this.actions.replaceChildren(copy);
      if (this.messageId && this.chat.conversationId) this.actions.append(this.feedback());
      this.actions.hidden = false;
    }

    feedback() {
      const id = `plume-comment-${this.n}`;
      const state = h("p", { class: "plume-feedback-state fr-text--sm", role: "status" });
      const comment = h("textarea", { class: "fr-input", id, rows: 2, maxlength: MAX_QUESTION });
      let rating = null;
      const thumbs = [
        ["up", "Oui, utile"],
        ["down", "Non, pas utile"],
      ].map(([value, label]) =>
        h(
          "button",
          {
            type: "button",
            class: `fr-btn fr-btn--sm fr-btn--tertiary plume-thumb plume-thumb--${value}`,
            "aria-pressed": "false",
            "data-rating": value,
            onclick: () => {
              rating = value;
              for (const t of thumbs) t.setAttribute("aria-pressed", String(t === thumbs[value === "up" ? 0 : 1]));
              more.hidden = false;
              comment.focus();
            },
          },
          label,
        ),
      );
      const submit = h("button", {
        type: "button",
        class: "fr-btn fr-btn--sm",
        text: "Envoyer mon avis",
        onclick: async () => {
          submit.disabled = true;
          state.textContent = "Envoi de votre avis…";
          try {
            const response = await fetch(`${BASE}/v1/feedback`, {
              method: "POST",
              headers: headers(),
              credentials: CREDENTIALS,
              body: JSON.stringify({
                conversation_id: this.chat.conversationId,
                message_id: this.messageId,
                rating,
                comment: comment.value.trim() || null,
              }),
            });
            if (!response.ok) throw new Error(await errorMessage(response));
            state.textContent = "Merci : votre avis est enregistré.";
            for (const t of thumbs) t.disabled = true;
            comment.disabled = true;
          } catch (err) {
            state.textContent =
              err instanceof TypeError ? UNREACHABLE : `Avis non enregistré : ${err.message}`;
            submit.disabled = false;
          }
        },
      });
      const more = h(
        "div",
        { class: "plume-comment", hidden: true },
        h("label", { class: "fr-label", for: id, text: "Commentaire (facultatif)" }),
        comment,
        submit,
      );
      return h(
        "div",
        { class: "plume-feedback", role: "group", "aria-label": "Votre avis sur cette réponse" },
        h("p", { class: "fr-text--sm plume-feedback-question", text: "Cette réponse vous a-t-elle aidé ?" }),
        h("div", { class: "plume-buttons" }, thumbs),
        more,
        state,
      );
    }
  }

  // --- agents' sign-in (Plume's own page only: the session cookie is Plume's) -----------------

  Chat.prototype.showAccount = async function showAccount() {
    if (!CONFIG.signIn || BASE !== location.origin) return;
    let me = null;
    try {
      const response = await fetch(`${BASE}/auth/moi`, { credentials: "same-origin" });
      if (response.ok) me = await response.json();
    } catch (_) {
      // unreachable: no account line; the chat says so when a question is sent
    }
    if (me) {
      this.account.replaceChildren(
        `Connecté : ${me.email} — commune ${me.commune || me.tenant} · `,
        h("button", {
          type: "button",
          class: "fr-link fr-text--xs plume-sign-out",
          text: "Se déconnecter",
          onclick: async () => {
            await fetch(`${BASE}/auth/deconnexion`, { method: "POST", credentials: "same-origin" });
            location.reload();
          },
        }),
      );
      return;
    }
    const back = encodeURIComponent(location.pathname + location.search);
    this.account.replaceChildren(
      h("a", {
        class: "fr-link fr-text--xs plume-sign-in",
        href: `${BASE}/auth/connexion?retour=${back}`,
        text: "Se connecter",
      }),
      " (agents : documents de votre commune)",
    );
  };

  // --- mounting ------------------------------------------------------------------------------

  function mount() {
    // @font-face does not apply inside a shadow root: the faces go in the page (a name only)
    if (!document.querySelector("link[data-plume-fonts]")) {
      document.head.append(
        h("link", { rel: "stylesheet", href: `${BASE}/widget-fonts.css`, "data-plume-fonts": "" }),
      );
    }
    const target = TARGET_SELECTOR ? document.querySelector(TARGET_SELECTOR) : null;
    const host = document.createElement("plume-chat");
    const floating = !target;
    if (floating) host.setAttribute("data-floating", "");
    const root = host.attachShadow({ mode: "open" });
    const ready = () => host.setAttribute("data-ready", "");
    root.append(
      h("style", {
        text:
          ":host{all:initial!important;display:block!important}" +
          ":host([data-floating]){position:fixed!important;right:1rem!important;bottom:1rem!important;" +
          "z-index:2147483000!important}:host(:not([data-ready])) .plume{visibility:hidden}",
      }),
      h("link", { rel: "stylesheet", href: `${BASE}/widget.css`, onload: ready, onerror: ready }),
    );
    new Chat(root, floating);
    (target || document.body).append(host);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
