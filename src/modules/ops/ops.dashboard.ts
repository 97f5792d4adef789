/**
 * The operations dashboard: one static page whose script talks to /ops/api with the operator's
 * token (kept in sessionStorage). Everything it shows comes from tenants or jobs, so it is put
 * on the page with textContent only, never parsed as HTML.
 */
export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Brigade operations</title>
<style>
  body { font: 14px/1.4 -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2933; background: #f5f7fa; }
  header { background: #0b6e4f; color: #fff; padding: 10px 20px; display: flex; justify-content: space-between; align-items: center; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  section { background: #fff; border: 1px solid #d9e2ec; border-radius: 6px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef2f6; vertical-align: top; }
  th { color: #616e7c; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .dead { color: #b42318; font-weight: 600; }
  button { font: inherit; padding: 2px 8px; cursor: pointer; }
  pre { background: #f5f7fa; padding: 8px; overflow: auto; max-height: 360px; white-space: pre-wrap; }
  #login { max-width: 320px; margin: 80px auto; display: grid; gap: 8px; }
  .muted { color: #616e7c; }
  .link { color: #0b6e4f; cursor: pointer; text-decoration: underline; }
</style>
</head>
<body>
<header><strong>Brigade operations</strong><span><span id="who" class="muted"></span> <button id="logout" hidden>Sign out</button></span></header>
<form id="login" hidden>
  <h2>Operator sign-in</h2>
  <input id="email" type="email" placeholder="e-mail" required autocomplete="username">
  <input id="password" type="password" placeholder="password" required autocomplete="current-password">
  <button type="submit">Sign in</button>
  <span id="loginError" class="dead"></span>
</form>
<main id="app" hidden>
  <section><h2>Queues</h2><table id="queues"></table></section>
  <section><h2>Dead jobs <button id="replayAll">Replay all shown</button></h2><table id="dead"></table></section>
  <section><h2>Waiting for a retry</h2><table id="failed"></table></section>
  <section><h2>Job</h2><pre id="job" class="muted">Click a job id.</pre></section>
  <section><h2>Caught mails</h2><table id="mails"></table><pre id="mail" hidden></pre></section>
</main>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem('brigadeOpsToken');

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401) { signOut(); throw new Error('signed out'); }
    const json = await res.json();
    if (!res.ok) throw new Error(json.detail || res.statusText);
    return json;
  }

  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '' : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function table(el, headers, rows, render) {
    el.replaceChildren();
    const head = document.createElement('tr');
    for (const h of headers) { const th = document.createElement('th'); th.textContent = h; head.appendChild(th); }
    el.appendChild(head);
    if (rows.length === 0) { const tr = document.createElement('tr'); cell(tr, 'none', 'muted'); el.appendChild(tr); }
    for (const r of rows) { const tr = document.createElement('tr'); render(tr, r); el.appendChild(tr); }
  }
  function jobLink(tr, j) {
    const td = cell(tr, j.id, 'link');
    td.onclick = async () => { $('job').textContent = JSON.stringify(await api('GET', '/ops/api/jobs/' + encodeURIComponent(j.queue) + '/' + encodeURIComponent(j.id)), null, 2); };
  }
  function button(tr, label, action) {
    const td = document.createElement('td');
    const b = document.createElement('button');
    b.textContent = label;
    b.onclick = async () => {
      const reason = prompt(label + ': why?');
      if (reason === null) return;
      try { const out = await action(reason); $('job').textContent = JSON.stringify(out, null, 2); } catch (e) { alert(e.message); }
      refresh();
    };
    td.appendChild(b);
    tr.appendChild(td);
  }

  let shownDead = [];
  async function refresh() {
    try {
      const [queues, dead, failed, mails] = await Promise.all([
        api('GET', '/ops/api/queues'),
        api('GET', '/ops/api/jobs?state=dead&limit=50'),
        api('GET', '/ops/api/jobs?state=failed&limit=20'),
        api('GET', '/ops/api/mails?limit=20'),
      ]);
      table($('queues'), ['queue', 'backlog', 'waiting', 'active', 'delayed', 'failed', 'dead', 'completed'], queues.data, (tr, q) => {
        cell(tr, q.name);
        for (const k of ['backlog', 'waiting', 'active', 'delayed', 'failed', 'dead', 'completed']) cell(tr, q.counts[k], k === 'dead' && q.counts.dead ? 'num dead' : 'num');
      });
      shownDead = dead.data;
      table($('dead'), ['job', 'type', 'tenant', 'attempts', 'reason', 'died', '', ''], dead.data, (tr, j) => {
        jobLink(tr, j); cell(tr, j.type); cell(tr, j.tenantId); cell(tr, j.attempts, 'num'); cell(tr, j.failedReason, 'dead'); cell(tr, j.finishedAt);
        button(tr, 'Replay', (reason) => api('POST', '/ops/api/jobs/' + encodeURIComponent(j.queue) + '/' + encodeURIComponent(j.id) + '/replay', { reason }));
        button(tr, 'Discard', (reason) => api('POST', '/ops/api/jobs/' + encodeURIComponent(j.queue) + '/' + encodeURIComponent(j.id) + '/discard', { reason }));
      });
      table($('failed'), ['job', 'type', 'tenant', 'attempts', 'last error'], failed.data, (tr, j) => {
        jobLink(tr, j); cell(tr, j.type); cell(tr, j.tenantId); cell(tr, j.attempts, 'num'); cell(tr, j.failedReason);
      });
      table($('mails'), ['when', 'to', 'subject'], mails.data, (tr, m) => {
        cell(tr, m.createdAt); cell(tr, m.to);
        const s = cell(tr, m.subject, 'link');
        s.onclick = () => { $('mail').hidden = false; $('mail').textContent = 'To: ' + m.to + '\\nSubject: ' + m.subject + '\\n\\n' + m.text; };
      });
    } catch (e) { if (e.message !== 'signed out') console.error(e); }
  }

  $('replayAll').onclick = async () => {
    if (shownDead.length === 0) return;
    const reason = prompt('Replay ' + shownDead.length + ' dead job(s): why?');
    if (reason === null) return;
    for (const j of shownDead) await api('POST', '/ops/api/jobs/' + encodeURIComponent(j.queue) + '/' + encodeURIComponent(j.id) + '/replay', { reason }).catch(() => undefined);
    refresh();
  };

  function signOut() { token = null; sessionStorage.removeItem('brigadeOpsToken'); show(); }
  function show() {
    $('login').hidden = Boolean(token); $('app').hidden = !token; $('logout').hidden = !token;
    if (token) refresh();
  }
  $('logout').onclick = signOut;
  $('login').onsubmit = async (ev) => {
    ev.preventDefault();
    $('loginError').textContent = '';
    const res = await fetch('/ops/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: $('email').value, password: $('password').value }) });
    const json = await res.json();
    if (!res.ok) { $('loginError').textContent = json.detail || 'Sign-in failed'; return; }
    token = json.token; sessionStorage.setItem('brigadeOpsToken', token); $('who').textContent = $('email').value; show();
  };
  setInterval(() => { if (token) refresh(); }, 5000);
  show();
})();
</script>
</body>
</html>
`;
