/* riskmap: emergency resources and the rescue circle (风险资源一张图, 15分钟应急救援圈) over the map page. Reads
 * cfg.response (layers/responsemap.py) and drives the map through window.riskmap (riskmap.js). Plain ES5;
 * every string from data goes in with textContent.
 *
 * Three rows in the layers panel: the resources (a glyph marker per kind, from a zoom level on like the
 * enterprises), the rescue circle (the area reached within each band of minutes, one image) and the
 * coverage choropleth (the focus regions filled by their headline area share). The region card gains the
 * headline shares; a legend (bottom right) explains whichever of the three is on.
 */
(function () {
  'use strict';
  var RM = window.riskmap;
  var node = document.getElementById('riskmap-config');
  if (!RM || !node) { return; }
  var cfg = JSON.parse(node.textContent);
  var R = cfg.response;
  if (!R) { return; }
  var map = RM.map, el = RM.el, T = cfg.text, P = cfg.meta.precision, LAYER = cfg.meta.layer || 'regions';
  var MS = R.marker;

  function add(parent) {
    for (var i = 1; i < arguments.length; i++) { if (arguments[i]) { parent.appendChild(arguments[i]); } }
    return parent;
  }
  function pct(v) { return v === null || v === undefined ? '–' : Math.round(100 * v) + '%'; }
  function num(v) { return v === null || v === undefined ? null : String(v); }
  function headTitle() { return T.cover_title.replace('{m}', R.headline); }
  function methodText() { return R.method ? (T['method_' + R.method] || R.method) : ''; }

  // ---------------------------------------------------------------- resources
  var kinds = R.kinds, perKind = [];
  kinds.forEach(function () { perKind.push(0); });
  R.resources.forEach(function (r) { if (r[2] >= 0) { perKind[r[2]]++; } });
  function kindOf(r) { return kinds[r[2]] || {label: '', glyph: '?', color: '#37474F'}; }
  var resPane = map.createPane('rm-resources');
  resPane.style.zIndex = 455;  // over the enterprises, under the hazard-site symbols
  function icon(k) {
    var d = el('div', 'rm-res', k.glyph);
    d.style.background = k.color; d.style.borderColor = MS.stroke;
    d.style.width = d.style.height = d.style.lineHeight = MS.size + 'px';
    d.style.fontSize = Math.round(MS.size * 0.62) + 'px';
    return L.divIcon({className: 'rm-res-icon', html: d, iconSize: [MS.size + 2, MS.size + 2]});
  }
  function resourceCard(r) {
    var k = kindOf(r), card = el('div', 'rm-card');
    add(card, el('div', 'rm-card-title', r[3]));
    var head = el('div', 'rm-card-head');
    var badge = el('span', 'rm-badge', k.glyph + ' ' + k.label); badge.style.background = k.color;
    add(card, add(head, badge));
    var dl = el('dl', 'rm-dl');
    [[T.kind, k.label], [T.staff, num(r[4])], [T.vehicles, num(r[5])], [T.capacity, num(r[6])], [T.phone, r[7]]]
      .forEach(function (kv) {
      if (kv[1]) { add(dl, el('dt', null, kv[0]), el('dd', null, kv[1])); }
    });
    return add(card, dl);
  }
  var markers = [];
  function marker(i) {
    if (markers[i]) { return markers[i]; }
    var r = R.resources[i], k = kindOf(r);
    var m = L.marker([r[1] * P, r[0] * P], {icon: icon(k), pane: 'rm-resources', keyboard: false});
    m.bindTooltip(function () {
      var box = el('div', 'rm-tip');
      return add(box, el('div', 'rm-tip-title', r[3]), el('div', 'rm-muted', k.label));
    }, {direction: 'top', className: 'rm-tooltip', opacity: 1});
    m.bindPopup(function () { return resourceCard(r); }, {className: 'rm-popup', maxWidth: 360});
    m.resourceName = r[3];
    markers[i] = m;
    return m;
  }
  var resources = L.layerGroup();
  // Only the markers in (and near) the view are on the map: thousands of DOM markers would slow panning.
  function refreshResources() {
    if (!map.hasLayer(resources)) { return; }
    resources.clearLayers();
    var b = map.getBounds().pad(0.25);
    for (var i = 0; i < R.resources.length; i++) {
      var r = R.resources[i];
      if (!hidden[r[2]] && b.contains([r[1] * P, r[0] * P])) { resources.addLayer(marker(i)); }
    }
  }
  resources.on('add', function () { refreshResources(); renderLegend(); });
  resources.on('remove', renderLegend);
  map.on('moveend', refreshResources);

  // ---------------------------------------------------------------- the rescue circle (bands of minutes)
  var circle = L.layerGroup();
  if (R.zones) {
    var zPane = map.createPane('rm-coverage');
    zPane.style.zIndex = 405;  // over the region fills, under the outlines and names
    zPane.style.pointerEvents = 'none';
    circle.addLayer(L.imageOverlay(R.zones.url, R.zones.bounds, {
      pane: 'rm-coverage', opacity: R.fill_opacity,
      interactive: false, className: 'rm-coverage-img'
    }));
  }
  circle.on('add remove', function () { applyFill(); renderLegend(); });

  // ---------------------------------------------------------------- the coverage choropleth
  function shareClass(v) {
    var n = R.share_colors.length;
    return v === null || v === undefined ? -1 : Math.min(Math.floor(v * n), n - 1);
  }
  function shareFill(code) {
    var s = R.shares[code], c = s ? shareClass(s[0]) : -1;
    return c < 0 ? cfg.styles.regions.no_data_color : R.share_colors[c];
  }
  function plainFill() { return cfg.styles.regions.no_data_color; }
  var choropleth = L.layerGroup();
  // The region fill under these layers: the choropleth's shares; under the bands alone a plain grey (the bands
  // over the four colours would mix into colours of neither); else the four colours.
  function applyFill() {
    RM.setRegionFill(map.hasLayer(choropleth) ? shareFill : map.hasLayer(circle) ? plainFill : null);
  }
  choropleth.on('add remove', function () { applyFill(); renderLegend(); });

  // ---------------------------------------------------------------- the region card
  RM.addCardPart(function (code, card) {
    var s = R.shares[code];
    if (!s) { return; }
    add(card, el('div', 'rm-section', headTitle() + (R.method ? ' · ' + methodText() : '')));
    var dl = el('dl', 'rm-dl rm-cover');
    [[T.cover_area, s[0]], [T.cover_units, s[1]], [T.cover_red, s[2]], [T.cover_orange, s[3]], [T.cover_sites, s[4]]]
      .forEach(function (kv) { add(dl, el('dt', null, kv[0]), el('dd', null, pct(kv[1]))); });
    if (s[5]) { add(dl, el('dt', null, T.cover_unreached), el('dd', 'rm-cover-gap', s[5])); }
    add(card, dl);
  });

  // ---------------------------------------------------------------- legends, under their rows of the layers panel
  var hidden = {};  // kind index → true: hidden by a click on its legend entry
  function swatchRow(color, text, glyph) {
    var row = el('div', 'rm-legend-row');
    var sw = el('span', glyph ? 'rm-res rm-res-legend' : 'rm-swatch', glyph || null);
    sw.style.background = color;
    return add(row, sw, el('span', null, text));
  }
  function block(t, key) {
    var div = el('div', 'rm-layer-legend');
    div.setAttribute('data-legend', key);
    t.row.parentNode.insertBefore(div, t.row.nextSibling);
    return div;
  }
  var legends = {};
  function renderLegend() {
    if (legends.resources) {
      var lr = legends.resources;
      lr.textContent = '';
      lr.style.display = map.hasLayer(resources) ? '' : 'none';
      kinds.forEach(function (k, i) {
        if (!perKind[i]) { return; }
        var row = swatchRow(k.color, k.label + ' ' + perKind[i], k.glyph);
        row.className += ' rm-kind' + (hidden[i] ? ' rm-off' : '');
        row.setAttribute('data-kind', k.code);
        row.onclick = function () { hidden[i] = !hidden[i]; refreshResources(); renderLegend(); };
        lr.appendChild(row);
      });
      if (R.resources.length < R.total) {
        add(lr, el('div', 'rm-muted', T.shown_of.replace('{n}', R.resources.length).replace('{total}', R.total)));
      }
    }
    if (legends.coverage) {
      var lc = legends.coverage;
      lc.textContent = '';
      lc.style.display = map.hasLayer(circle) ? '' : 'none';
      if (R.method) { add(lc, el('div', 'rm-muted', methodText())); }
      R.bands.forEach(function (b) { add(lc, swatchRow(b.color, b.label + '  ' + b.area_km2 + ' km²')); });
    }
    if (legends.choropleth) {
      var ls = legends.choropleth, n = R.share_colors.length;
      ls.textContent = '';
      ls.style.display = map.hasLayer(choropleth) ? '' : 'none';
      add(ls, el('div', 'rm-muted', headTitle() + ' · ' + T.cover_area));
      for (var i = n - 1; i >= 0; i--) {
        add(ls, swatchRow(R.share_colors[i], Math.round(100 * i / n) + '–' + Math.round(100 * (i + 1) / n) + '%'));
      }
    }
  }

  // ---------------------------------------------------------------- the layers panel
  if (R.total) {
    legends.resources = block(RM.addToggle(T.resources, resources, LAYER === 'resources' ? 0 : MS.min_zoom,
      LAYER !== 'regions' && LAYER !== 'resources', 'resources'), 'resources');
  }
  if (R.zones) { legends.coverage = block(RM.addToggle(T.coverage, circle, 0, LAYER !== 'coverage', 'coverage'), 'coverage'); }
  if (Object.keys(R.shares).length) {
    legends.choropleth = block(RM.addToggle(T.cover_share, choropleth, 0, true, 'choropleth'), 'choropleth');
  }
  renderLegend();

  // for wall-screen automation and tests
  window.riskmapResponse = {
    shown: function () { var n = 0; resources.eachLayer(function () { n++; }); return n; },
    openResource: function (name) {
      var found = null;
      resources.eachLayer(function (m) { if (m.resourceName === name) { found = m; } });
      if (!found) { return false; }
      found.openPopup();
      return true;
    },
    share: function (code) { return R.shares[code] || null; }
  };
})();
