/* riskmap: the prompts panel (动态风险研判提示) over the map page. Reads cfg.alerts (layers/alerts.py) and
 * drives the map through window.riskmap (riskmap.js). Plain ES5; every string from data goes in with
 * textContent.
 *
 * Rows: [id, severity rank, kind U|S|R, target id, text, lon, lat, province, city, county, first seen, domain],
 * gravest and newest first. The list shows the prompts under the region in view (the selected parent) and
 * says how many of all; clicking one flies to it (a region: opens its card).
 */
(function () {
  'use strict';
  var RM = window.riskmap;
  var node = document.getElementById('riskmap-config');
  if (!RM || !node) { return; }
  var A = JSON.parse(node.textContent).alerts;
  if (!A) { return; }
  var map = RM.map, U = A.ui, SEV = A.severities;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function inRegion(row, code) {
    var country = code && RM.region(code) && RM.region(code).level === 'country';  // 全国: above every prompt's province
    return !code || country || row[7] === code || row[8] === code || row[9] === code || (row[2] === 'R' && row[3] === code);
  }

  var box, head, list, shown = null;
  var Panel = L.Control.extend({
    onAdd: function () {
      var div = el('div', 'rm-panel rm-alerts');
      div.setAttribute('data-testid', 'alerts');
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      head = el('div', 'rm-alerts-head');
      list = el('ol', 'rm-alerts-list');
      div.appendChild(head);
      div.appendChild(list);
      box = div;
      return div;
    }
  });
  new Panel({position: 'bottomleft'}).addTo(map);  // above the legend: the right column holds the layers and the region card

  // The panel takes the height left between the top-left controls and the legend, never covering either.
  function fit() {
    var above = map.getContainer().querySelectorAll('.leaflet-top.leaflet-left > .leaflet-control');
    var top = above.length ? above[above.length - 1].getBoundingClientRect().bottom : 0;
    var below = box.getBoundingClientRect().bottom;
    var room = window.innerHeight - top - (window.innerHeight - below) - 20;
    box.style.maxHeight = Math.max(120, room) + 'px';
  }
  window.addEventListener('resize', fit);

  function fly(row) {
    if (row[2] === 'R' && RM.region(row[3])) {
      var r = RM.region(row[3]);
      map.flyTo([r.label[1], r.label[0]], Math.max(map.getZoom(), 9));
      map.once('moveend', function () { RM.openRegion(row[3]); });
      return;
    }
    if (row[5] === null || row[6] === null) { return; }
    map.flyTo([row[6], row[5]], Math.max(map.getZoom(), 13));
    map.once('moveend', function () {
      setTimeout(function () { if (row[2] === 'S') { RM.openHazard(row[3]); } else { RM.openEnterprise(row[3]); } }, 400);
    });
  }

  function render() {
    var parent = RM.state().parent;
    if (shown === parent && list.childNodes.length) { return; }
    shown = parent;
    var rows = A.items.filter(function (row) { return inRegion(row, parent); });
    var counts = [0, 0, 0];
    rows.forEach(function (row) { counts[row[1]]++; });
    head.textContent = '';
    head.appendChild(el('div', 'rm-alerts-title', U.title));
    var line = el('div', 'rm-alerts-counts');
    SEV.forEach(function (s, i) {
      var c = el('span', 'rm-alerts-count');
      var dot = el('i', 'rm-alerts-dot'); dot.style.background = s.color;
      c.appendChild(dot);
      c.appendChild(document.createTextNode(s.label + ' ' + counts[i]));
      line.appendChild(c);
    });
    var region = parent && RM.region(parent);
    line.appendChild(el('span', 'rm-muted', (region ? region.name : U.all) + ' · ' + rows.length + '/' + A.total));
    head.appendChild(line);
    list.textContent = '';
    if (!rows.length) { list.appendChild(el('li', 'rm-muted', U.none)); }
    rows.forEach(function (row) {
      var s = SEV[row[1]] || SEV[2];
      var li = el('li', 'rm-alert rm-alert-' + s.code);
      li.setAttribute('data-id', row[0]);
      li.style.borderLeftColor = s.color;
      var tag = el('span', 'rm-alert-sev', s.label); tag.style.background = s.color;
      li.appendChild(tag);
      li.appendChild(el('span', 'rm-alert-text', row[4]));
      li.appendChild(el('span', 'rm-alert-day', U.first_seen + ' ' + row[10]));
      li.onclick = function () { fly(row); };
      list.appendChild(li);
    });
  }
  render();
  fit();
  map.on('moveend zoomend', fit);  // the legend below may have grown or shrunk
  map.on('moveend', render);
  RM.alerts = {items: function () { return A.items.slice(); }, shown: function () {
    var out = [];
    for (var i = 0; i < list.childNodes.length; i++) { var id = list.childNodes[i].getAttribute('data-id'); if (id) { out.push(id); } }
    return out;
  }, fly: function (id) {
    for (var i = 0; i < A.items.length; i++) { if (A.items[i][0] === id) { fly(A.items[i]); return true; } }
    return false;
  }};
})();
