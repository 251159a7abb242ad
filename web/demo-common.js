// What both demo pages share: the member id kept per tab, the query options, the status pill.

import { DEFAULTS as kasagiDefaults } from './sdk/kasagi.js';

const AUTHID_KEY = 'kasagi.authid';
const AUTHID = /^[A-Za-z0-9_.@-]{1,64}$/;

/** The page's options: ?room=&name=&serializer=&ticket= (name is remembered for the tab). */
export function pageOptions(defaultRoom) {
  const params = new URLSearchParams(location.search);
  let authid = params.get('name') || sessionStorage.getItem(AUTHID_KEY);
  if (!authid || !AUTHID.test(authid)) authid = `player_${Math.random().toString(36).slice(2, 7)}`;
  // sessionStorage lives as long as the tab: a reload keeps the member, a new tab is a new one.
  sessionStorage.setItem(AUTHID_KEY, authid);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return {
    url: params.get('url') || `${scheme}://${location.host}/ws`,
    authid,
    ticket: params.get('ticket') || undefined,
    serializer: params.get('serializer') || kasagiDefaults.serializer,
    room: params.get('room') || defaultRoom,
  };
}

/** Keep the status pill in step with the connection. */
export function showStatus(el, client) {
  const set = (status) => {
    if (el.dataset.ended) return; // the room ended: that is what the pill says from now on
    el.textContent = status;
    el.className = `pill ${status}`;
  };
  set(client.status);
  client.on('status', set);
}

/** When an admin removes this member or closes the room, say so in the pill (and stop there). */
export function showEnded(el, room, demo) {
  room.on('ended', ({ kind, reason }) => {
    demo.ended = kind;
    el.textContent = kind === 'closed' ? `room closed${reason ? `: ${reason}` : ''}` : 'removed by an admin';
    el.className = 'pill closed';
    el.dataset.ended = kind;
  });
}

/** A stable colour for a member id. */
export function colourOf(id) {
  let h = 2166136261; // FNV-1a, then the golden angle spreads neighbours around the wheel
  for (const ch of id) h = Math.imul(h ^ ch.codePointAt(0), 16777619) >>> 0;
  return `hsl(${Math.round((h % 1000) * 137.508) % 360} 75% 62%)`;
}

/** Fill a <ul class="members"> from state.members. */
export function renderMembers(ul, members = {}, me = null) {
  ul.replaceChildren(
    ...Object.keys(members)
      .sort()
      .map((id) => {
        const m = members[id];
        const li = document.createElement('li');
        li.dataset.member = id;
        li.dataset.online = String(Boolean(m.online));
        const dot = document.createElement('span');
        dot.className = 'dot';
        dot.style.background = colourOf(id);
        const name = document.createElement('span');
        name.textContent = id === me ? `${id} (you)` : id;
        const st = document.createElement('span');
        st.className = m.online ? 'online' : 'offline';
        st.textContent = m.online ? 'online' : 'offline';
        li.append(dot, name, st);
        return li;
      }),
  );
}
