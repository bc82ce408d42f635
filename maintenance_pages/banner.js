// The maintenance window's banner: shows the times in the visitor's local time, and
// the dismiss button, which sets maintgate_banner_<id>=dismissed until the window's
// expected end, so maintgate stops adding the banner for this visitor. Served from
// /.maintgate/banner.js (same origin: a page's CSP 'self' allows it); no inline code.
(function () {
  var b = document.getElementById("maintgate-banner");
  if (!b) return;
  var times = b.querySelectorAll("time[data-local]");
  for (var i = 0; i < times.length; i++) {
    var t = times[i];
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) continue;
    t.title = t.textContent;
    t.textContent = d.toLocaleString(undefined, {
      weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
  }
  var button = b.querySelector(".maintgate-dismiss");
  var name = b.getAttribute("data-cookie");
  if (!button || !name) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var end = new Date(b.getAttribute("data-end"));
    var age = Math.floor((end - Date.now()) / 1000);
    if (isNaN(age) || age < 60) age = 60;
    document.cookie = name + "=dismissed; Path=/; SameSite=Lax; Max-Age=" + age +
      (location.protocol === "https:" ? "; Secure" : "");
    b.parentNode.removeChild(b);
  });
})();
