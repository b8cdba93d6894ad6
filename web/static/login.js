/* The sign-in page (/login): posts the form to the API's /api/v1/session.
 *
 * The API answers with two cookies for this host (the session, HttpOnly, and the CSRF
 * token app.js sends back on every change), which the gallery's own server receives
 * too; then the browser goes on to the page it first asked for (data-next, a local
 * path the server checked). A refusal shows the API's own message: a wrong password,
 * or after too many of them "try again in N s".
 */
"use strict";

(() => {
  const { apiUrl, callApi, errorMessage } = window.Auteur;
  const form = document.getElementById("sign-in-form");
  const error = document.getElementById("si-error");
  const submit = form.querySelector('button[type="submit"]');

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!username || !password) {
      showError("Enter your user name and password.");
      (username ? form.elements.password : form.elements.username).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      const response = await callApi(`${apiUrl}/api/v1/session`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username, password }),
      });
      if (response.ok) {
        window.location.assign(form.dataset.next || "/");
        return;
      }
      showError(errorMessage(await response.json().catch(() => null), response.status));
    } catch (err) {
      showError(`Could not reach the API at ${apiUrl}. Is it running?`);
    }
    submit.disabled = false;
    submit.textContent = "Sign in";
    form.elements.password.select();
    form.elements.password.focus();
  });
})();
