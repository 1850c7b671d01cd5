/* riskmap: the four-colour map page. Reads the JSON document in #riskmap-config (see layers/payload.py).
 *
 * Plain ES5 on purpose (government intranet PCs run old browsers). Every string that comes from data is
 * put into the page with textContent or createTextNode, never as HTML.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('riskmap-config').textContent);
  var META = cfg.meta, T = cfg.text, S = cfg.styles, P = META.precision;
  var LEVELS = S.levels;                       // [{code, color, label}] gravest first
  var ADMIN = cfg.levels;                      // admin levels present, coarsest first
  var SERVED = META.mode === 'served';
  var LAYER = META.layer || 'regions';         // what the page is about: regions, enterprises or hazards
  var POINTS = LAYER !== 'regions';             // a layer map: faint regions, the layer at every zoom

  // ---------------------------------------------------------------- small helpers
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) { if (arguments[i]) { parent.appendChild(arguments[i]); } }
    return parent;
  }
  function fmt(n, digits) {
    if (n === null || n === undefined || isNaN(n)) { return '–'; }
    return Number(n).toFixed(digits === undefined ? 1 : digits);
  }
  function compact(n) {
    if (n >= 10000) { return META.lang === 'zh' ? (n / 10000).toFixed(n >= 100000 ? 0 : 1) + '万' : (n / 1000).toFixed(0) + 'k'; }
    if (n >= 1000 && META.lang !== 'zh') { return (n / 1000).toFixed(1) + 'k'; }
    return String(n);
  }
  function levelOf(rank) { return rank >= 0 && rank < LEVELS.length ? LEVELS[rank] : null; }
  function adminStyle(level) { return S.admin[level] || S.admin.finer; }
  function rankOfAdmin(level) { var i = ADMIN.indexOf(level); return i < 0 ? 99 : i; }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return values.hasOwnProperty(k) ? encodeURIComponent(values[k] === null ? '' : values[k]) : m;
    });
  }

  // ---------------------------------------------------------------- geometry decoding
  // An encoded polyline (Google's algorithm, x before y) of deltas in units of the precision P.
  function decodeRing(text) {
    var out = [], x = 0, y = 0, i = 0, n = text.length;
    while (i < n) {
      var v = [0, 0];
      for (var k = 0; k < 2; k++) {
        var shift = 0, acc = 0, b;
        do { b = text.charCodeAt(i++) - 63; acc |= (b & 0x1f) << shift; shift += 5; } while (b >= 0x20);
        v[k] = (acc & 1) ? ~(acc >> 1) : (acc >> 1);
      }
      x += v[0]; y += v[1];
      out.push([y * P, x * P]);
    }
    return out;
  }
  function decodePolygons(enc) {
    var out = [];
    for (var i = 0; i < enc.length; i++) {
      var rings = [];
      for (var j = 0; j < enc[i].length; j++) { rings.push(decodeRing(enc[i][j])); }
      out.push(rings);
    }
    return out;
  }

  // ---------------------------------------------------------------- data
  var regions = {}, children = {}, domainLabels = {}, domainIndex = {};
  cfg.regions.forEach(function (r) {
    regions[r.a] = r;
    var key = r.p || '';
    (children[key] = children[key] || []).push(r.a);
  });
  var provinces = cfg.regions.filter(function (r) { return r.l === 'province'; }).length;
  cfg.domains.forEach(function (d) { domainLabels[d.code] = d.label; });
  (cfg.enterprises.domains || []).forEach(function (d, i) { domainIndex[d] = i; });

  var view = META.view;
  var state = {level: view.level, parent: view.parent || null, domain: view.domain || 'all'};
  var fillOpacity = POINTS ? S.regions.fill_opacity_points
    : cfg.basemap ? S.regions.fill_opacity_basemap : S.regions.fill_opacity;
  var unitMinZoom = LAYER === 'enterprises' ? 0 : S.enterprises.min_zoom;
  var fillOverride = null;                     // another theme's fill of the focus regions (response.js)
  var cardHooks = [], renderHooks = [];        // add-ons' parts of the region card; calls after each render

  function stat(code, domain) {
    var r = regions[code];
    return r && r.s ? r.s[domain || state.domain] : undefined;
  }
  function descendantsAt(code, level) {
    var out = [], todo = [code || ''];
    while (todo.length) {
      var kids = children[todo.pop()] || [];
      for (var i = 0; i < kids.length; i++) {
        var r = regions[kids[i]];
        if (r.l === level) { out.push(r.a); } else if (rankOfAdmin(r.l) < rankOfAdmin(level)) { todo.push(r.a); }
      }
    }
    return out;
  }
  function ancestors(code) {
    var out = [];
    var r = regions[code];
    while (r) { out.unshift(r.a); r = r.p ? regions[r.p] : null; }
    return out;
  }
  function nextLevel(code) {
    var r = regions[code];
    var i = rankOfAdmin(r.l) + 1;
    return i < ADMIN.length ? ADMIN[i] : null;
  }
  function hasChildrenAt(code, level) { return level && descendantsAt(code, level).length > 0; }

  // ---------------------------------------------------------------- the map
  document.documentElement.style.background = S.theme.background;
  var map = L.map('rm-map', {
    zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 90, minZoom: 3,
    maxZoom: cfg.basemap ? cfg.basemap.max_zoom : 18, zoomControl: false, attributionControl: true,
    preferCanvas: true
  });
  map.attributionControl.setPrefix('Leaflet');
  L.control.zoom({position: 'bottomright'}).addTo(map);
  L.control.scale({position: 'bottomright', imperial: false, maxWidth: 180}).addTo(map);

  function pane(name, z) { var p = map.createPane(name); p.style.zIndex = z; return p; }
  pane('rm-regions', 400); pane('rm-outlines', 410); pane('rm-hazard-areas', 420); pane('rm-labels', 430);
  pane('rm-units', 440); pane('rm-hazard-points', 460);
  map.getPane('rm-outlines').style.pointerEvents = 'none';
  map.getPane('rm-labels').style.pointerEvents = 'none';
  var regionRenderer = L.canvas({pane: 'rm-regions', padding: 0.3});
  var outlineRenderer = L.canvas({pane: 'rm-outlines', padding: 0.3});
  // Canvas for the many region polygons (bottom) and the non-interactive outlines; SVG above them, because a
  // canvas takes every click over its whole area while SVG lets clicks through where nothing is drawn.
  var areaRenderer = L.svg({pane: 'rm-hazard-areas', padding: 0.3});
  var unitRenderer = L.svg({pane: 'rm-units', padding: 0.3});

  var basemapLayer = null;
  if (cfg.basemap) {
    basemapLayer = L.tileLayer(cfg.basemap.url, {
      subdomains: cfg.basemap.subdomains || 'abc', maxZoom: cfg.basemap.max_zoom,
      attribution: escapeHtml(cfg.basemap.attribution || '')
    }).addTo(map);
  }

  var groups = {
    regions: L.layerGroup().addTo(map), outlines: L.layerGroup().addTo(map), labels: L.layerGroup().addTo(map),
    hazards: L.layerGroup().addTo(map), enterprises: L.layerGroup(), major: L.layerGroup()
  };

  // ---------------------------------------------------------------- cards (tooltips, popups, info panel)
  function swatch(color) { var s = el('span', 'rm-swatch'); s.style.background = color; return s; }
  function levelBadge(rank) {
    var lv = levelOf(rank);
    var b = el('span', 'rm-badge', lv ? lv.label : T.no_data);
    b.style.background = lv ? lv.color : S.regions.no_data_color;
    if (lv && (lv.code === 'yellow')) { b.className += ' rm-badge-dark'; }
    return b;
  }
  function regionTip(code) {
    var r = regions[code], s = stat(code);
    var box = el('div', 'rm-tip');
    add(box, el('div', 'rm-tip-title', r.n));
    var line = el('div', 'rm-tip-line');
    add(line, levelBadge(s ? s[0] : -1));
    if (s) { add(line, el('span', 'rm-tip-index', T.risk_index + ' ' + fmt(s[1]))); }
    return add(box, line);
  }
  function countsBar(s) {
    var total = s[2] + s[3] + s[4] + s[5];
    var wrap = el('div', 'rm-counts');
    var bar = el('div', 'rm-bar');
    for (var i = 0; i < 4; i++) {
      if (!total || !s[2 + i]) { continue; }
      var seg = el('span'); seg.style.background = LEVELS[i].color; seg.style.width = (100 * s[2 + i] / total) + '%';
      bar.appendChild(seg);
    }
    add(wrap, bar);
    var nums = el('div', 'rm-count-row');
    for (var j = 0; j < 4; j++) {
      var c = el('span', 'rm-count');
      add(c, swatch(LEVELS[j].color), document.createTextNode(LEVELS[j].label + ' ' + s[2 + j]));
      nums.appendChild(c);
    }
    add(wrap, nums, el('div', 'rm-muted', T.units + ' ' + s[6]));
    var sites = s[10] || [0, 0, 0, 0], siteRow = el('div', 'rm-count-row');  // open hazard sites, apart
    for (var k = 0; k < 4; k++) {
      var sc = el('span', 'rm-count');
      add(sc, swatch(LEVELS[k].color), document.createTextNode(LEVELS[k].label + ' ' + sites[k]));
      siteRow.appendChild(sc);
    }
    add(wrap, el('div', 'rm-section', T.site_counts), siteRow, el('div', 'rm-muted', T.sites + ' ' + s[7]));
    return wrap;
  }
  function regionCard(code, withTitle) {
    var r = regions[code], s = stat(code);
    var card = el('div', 'rm-card');
    if (withTitle !== false) { add(card, el('div', 'rm-card-title', r.n)); }
    var head = el('div', 'rm-card-head');
    add(head, levelBadge(s ? s[0] : -1));
    if (s) { add(head, el('span', 'rm-index', T.risk_index + ' ' + fmt(s[1]))); }
    add(head, el('span', 'rm-muted', domainLabels[state.domain] || state.domain));
    add(card, head);
    if (!s) { return add(card, el('div', 'rm-muted', T.no_data)); }
    add(card, el('div', 'rm-section', T.counts), countsBar(s));
    add(card, el('div', 'rm-section', T.top_units));
    var list = el('ol', 'rm-top');
    s[9].forEach(function (t) {
      var u = cfg.units[t[0]] || ['', '', -1, null, ''];
      var li = el('li');
      var lv = levelOf(u[2]);
      add(li, swatch(lv ? lv.color : S.regions.no_data_color), el('span', 'rm-top-name', u[0]),
        el('span', 'rm-muted', ' ' + (domainLabels[u[1]] || u[1] || '') + ' · ' + fmt(u[3]) +
          (t[1] !== null ? ' (+' + fmt(t[1], 1) + ')' : '')));
      list.appendChild(li);
    });
    if (!s[9].length) { add(list, el('li', 'rm-muted', T.no_rules)); }
    add(card, list, el('div', 'rm-section', T.rules));
    var rules = el('ul', 'rm-rules');
    s[8].forEach(function (i) { rules.appendChild(el('li', null, cfg.strings[i])); });
    if (!s[8].length) { add(rules, el('li', 'rm-muted', T.no_rules)); }
    add(card, rules);
    cardHooks.forEach(function (h) { h(code, card); });
    if (cfg.links.region) {  // served: the region's own page (why it has its level, its trend)
      var a = el('a', 'rm-region-link', T.region_details);
      a.href = fill(cfg.links.region, {adcode: code, lang: META.lang});
      add(card, a);
    }
    return card;
  }

  // ---------------------------------------------------------------- region layers
  var fillLayers = {}, outlineLayers = {}, labelLayers = {};
  function fillLayer(code) {
    if (fillLayers[code]) { return fillLayers[code]; }
    var r = regions[code];
    var layer = L.polygon(decodePolygons(r.g), {renderer: regionRenderer, smoothFactor: 0.5});
    layer.on('mouseover', function () {
      layer.setStyle({weight: S.regions.hover_weight, color: S.regions.hover_color});
      layer.bringToFront();
    });
    layer.on('mouseout', function () { layer.setStyle(regionStyle(code)); });
    layer.on('click', function (e) { onRegionClick(code, e.latlng); });
    layer.bindTooltip(function () { return regionTip(code); }, {sticky: true, direction: 'top', className: 'rm-tooltip', opacity: 1});
    fillLayers[code] = layer;
    return layer;
  }
  function isFocus(code) { return regions[code].l === state.level; }
  function regionStyle(code) {
    var r = regions[code], a = adminStyle(r.l);
    if (!isFocus(code)) {
      return {fillColor: S.regions.context_color, fillOpacity: 0.9, color: a.color, weight: a.width, opacity: 0.9};
    }
    var s = stat(code), lv = s ? levelOf(s[0]) : null;
    if (fillOverride) {
      return {fillColor: fillOverride(code), fillOpacity: cfg.basemap ? S.regions.fill_opacity_basemap : S.regions.fill_opacity,
        color: a.color, weight: a.width, opacity: 1};
    }
    return {fillColor: lv ? lv.color : S.regions.no_data_color, fillOpacity: fillOpacity, color: a.color,
      weight: a.width, opacity: 1};
  }
  function outlineLayer(code) {
    if (!outlineLayers[code]) {
      var a = adminStyle(regions[code].l);
      outlineLayers[code] = L.polygon(decodePolygons(regions[code].g), {
        renderer: outlineRenderer, fill: false, color: a.color, weight: a.width, interactive: false, smoothFactor: 0.5
      });
    }
    return outlineLayers[code];
  }
  function labelLayer(code) {
    if (!labelLayers[code]) {
      var r = regions[code], a = adminStyle(r.l);
      var span = el('span', 'rm-label rm-label-' + (S.admin[r.l] ? r.l : 'finer'), r.n);
      labelLayers[code] = L.marker([r.c[1], r.c[0]], {
        pane: 'rm-labels', interactive: false, keyboard: false,
        icon: L.divIcon({className: 'rm-label-icon', html: span, iconSize: null})
      });
    }
    return labelLayers[code];
  }

  function focusCodes() { return descendantsAt(state.parent, state.level).filter(function (c) { return regions[c].g.length; }); }
  function contextCodes() {
    if (!state.parent || !regions[state.parent]) { return []; }
    var p = regions[state.parent];
    return (children[p.p || ''] || []).filter(function (c) { return c !== state.parent && regions[c].l === p.l; });
  }

  function render(refit) {
    groups.regions.clearLayers(); groups.outlines.clearLayers(); groups.labels.clearLayers();
    var focus = focusCodes(), context = contextCodes();
    if (refit) { fitTo(focus.length ? focus : context); }
    context.concat(focus).forEach(function (code) {
      var layer = fillLayer(code);
      layer.setStyle(regionStyle(code));
      groups.regions.addLayer(layer);
    });
    // outlines of the coarser levels between the parent and the focus level (e.g. cities over counties)
    var focusRank = rankOfAdmin(state.level);
    for (var i = 0; i < focusRank; i++) {
      var level = ADMIN[i];
      var codes = state.parent && regions[state.parent].l === level ? [state.parent] : descendantsAt(state.parent, level);
      codes.forEach(function (code) { if (regions[code]) { groups.outlines.addLayer(outlineLayer(code)); } });
    }
    context.forEach(function (code) { groups.outlines.addLayer(outlineLayer(code)); });
    renderLabels(focus, context);
    renderHazards();
    renderLegend(focus);
    renderTitle();
    renderInfo();
    renderHooks.forEach(function (h) { h(focus); });
  }
  function renderLabels(focus, context) {
    var zoom = map.getZoom();
    var codes = focus.concat(context).filter(function (code) { return zoom >= adminStyle(regions[code].l).label_min_zoom; });
    // coarser levels first, then larger regions first: they keep their label when two collide
    codes.sort(function (a, b) {
      return (rankOfAdmin(regions[a].l) - rankOfAdmin(regions[b].l)) || ((regions[b].ar || 0) - (regions[a].ar || 0));
    });
    var scale = Math.max(1, Math.min(1.6, 1 + 0.18 * ((zoom || 8) - 8)));
    codes.forEach(function (code) {
      var layer = labelLayer(code);
      groups.labels.addLayer(layer);
      var span = layer.getElement() && layer.getElement().firstChild;
      if (span) { span.style.fontSize = Math.round(adminStyle(regions[code].l).label_size * scale) + 'px'; }
    });
    declutter(codes);
  }
  function declutter(codes) {
    var kept = [];
    codes.forEach(function (code) {
      var node = labelLayers[code].getElement();
      var span = node && node.firstChild;
      if (!span) { return; }
      span.style.visibility = '';
      var r = span.getBoundingClientRect();
      var box = {l: r.left - 2, r: r.right + 2, t: r.top - 1, b: r.bottom + 1};
      for (var i = 0; i < kept.length; i++) {
        var k = kept[i];
        if (box.l < k.r && box.r > k.l && box.t < k.b && box.b > k.t) { span.style.visibility = 'hidden'; return; }
      }
      kept.push(box);
    });
  }
  function fitTo(codes) {
    var bounds = null;
    codes.forEach(function (c) {
      var b = fillLayer(c).getBounds();
      bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
    });
    var wide = window.innerWidth >= 1100;  // room for the side panels on a wall screen or desktop
    if (bounds) { map.fitBounds(bounds, {paddingTopLeft: wide ? [380, 30] : [10, 10], paddingBottomRight: wide ? [400, 30] : [10, 10]}); }
  }

  // ---------------------------------------------------------------- navigation
  function navigate(level, parent) {
    if (SERVED) {
      window.location.href = fill(cfg.links.map, {level: level, parent: parent || '', domain: state.domain, lang: META.lang});
      return;
    }
    state.level = level; state.parent = parent;
    map.closePopup();
    render(true);
    refreshEnterprises();
  }
  function drill(code) {
    var next = nextLevel(code);
    if (next && hasChildrenAt(code, next)) { navigate(next, code); return true; }
    return false;
  }
  function up() {
    if (!state.parent || !regions[state.parent]) { return; }
    var p = regions[state.parent];
    if (!p.p) { return; }
    navigate(p.l, p.p);
  }
  function onRegionClick(code, latlng) {
    if (!isFocus(code)) { navigate(state.level, code); return; }
    var next = nextLevel(code);
    if (rankOfAdmin(state.level) < rankOfAdmin('county') && next && hasChildrenAt(code, next)) { drill(code); return; }
    openRegion(code, latlng);
  }
  function openRegion(code, latlng) {
    var r = regions[code];
    var at = latlng || L.latLng(r.c[1], r.c[0]);
    L.popup({className: 'rm-popup', maxWidth: 420, minWidth: 300, autoPanPadding: [40, 40]})
      .setLatLng(at).setContent(regionCard(code)).openOn(map);
  }

  // ---------------------------------------------------------------- panels
  function control(position, cls, build) {
    var C = L.Control.extend({
      onAdd: function () {
        var div = el('div', 'rm-panel ' + cls);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        build(div);
        return div;
      }
    });
    var c = new C({position: position});
    c.addTo(map);
    return c;
  }
  var titleBox, crumbBox, subtitleBox, viewBox, legendBox, infoBox, statusBox;
  control('topleft', 'rm-title-panel', function (div) {
    titleBox = add(div, el('h1', 'rm-title')).lastChild;
    subtitleBox = add(div, el('div', 'rm-subtitle')).lastChild;
    crumbBox = add(div, el('div', 'rm-crumbs')).lastChild;
    viewBox = add(div, el('div', 'rm-views')).lastChild;
    add(div, el('div', 'rm-section', T.domain));
    var list = add(div, el('div', 'rm-domains')).lastChild;
    cfg.domains.forEach(function (d) {
      var b = el('button', 'rm-domain', d.label);
      b.type = 'button';
      b.setAttribute('data-domain', d.code);
      b.onclick = function () { setDomain(d.code); };
      list.appendChild(b);
    });
  });
  control('bottomleft', 'rm-legend', function (div) { legendBox = div; });
  // Layer toggles. A layer with a minimum zoom (the enterprises) is on the map only when it is toggled on
  // and the map is zoomed in far enough; its row then says so.
  var toggles = [];
  function applyVisibility() {
    var z = map.getZoom();
    toggles.forEach(function (t) {
      var show = t.on && (!t.minZoom || z >= t.minZoom - 1e-6);
      if (show && !map.hasLayer(t.layer)) { map.addLayer(t.layer); }
      if (!show && map.hasLayer(t.layer)) { map.removeLayer(t.layer); }
      t.hint.textContent = t.on && !show ? ' (' + T.zoom_in + ')' : '';
    });
  }
  var layersBox;
  // A row of the layers panel (before the status line); `key` names it for tests (data-layer).
  function toggle(label, layer, minZoom, off, key) {
    var row = el('label', 'rm-toggle');
    var box = el('input'); box.type = 'checkbox'; box.checked = !off;
    if (key) { box.setAttribute('data-layer', key); }
    var t = {layer: layer, on: !off, minZoom: minZoom, hint: el('span', 'rm-muted'), row: row};
    box.onchange = function () { t.on = box.checked; applyVisibility(); };
    add(row, box, el('span', null, label), t.hint);
    layersBox.insertBefore(row, statusBox || null);
    toggles.push(t);
    return t;
  }
  control('topright', 'rm-layers', function (div) {
    layersBox = div;
    add(div, el('div', 'rm-section', T.layers));
    var own = LAYER === 'regions' || LAYER === 'enterprises';
    toggle(T.regions, groups.regions, 0, false, 'regions');
    toggle(T.labels, groups.labels, 0, false, 'labels');
    toggle(T.enterprises, groups.enterprises, unitMinZoom, !own, 'enterprises');
    if (!SERVED && !cfg.enterprises.complete) { toggle(T.major_points, groups.major, unitMinZoom, !own, 'major'); }
    toggle(T.hazards, groups.hazards, 0, LAYER !== 'regions' && LAYER !== 'hazards', 'hazards');
    if (basemapLayer) { toggle(T.basemap, basemapLayer, 0, false, 'basemap'); }
    statusBox = add(div, el('div', 'rm-status')).lastChild;
  });
  control('topright', 'rm-info', function (div) { infoBox = div; });

  function viewName(level) {
    if (level === 'province') { return provinces > 1 ? T.by_provinces : T.by_province; }
    return level === 'city' ? T.by_city : level === 'county' ? T.by_county : level;
  }
  function renderTitle() {
    var parent = state.parent && regions[state.parent];
    var name = parent ? parent.n : '';
    titleBox.textContent = META.title || (name + (META.lang === 'zh' ? '' : ' — ') + T.title);
    document.title = titleBox.textContent;
    subtitleBox.textContent = (POINTS ? T[LAYER] + ' · ' : '') + (domainLabels[state.domain] || state.domain) + ' · ' + viewName(state.level) +
      ' · ' + T.as_of + ' ' + META.as_of;
    crumbBox.textContent = '';
    var chain = state.parent ? ancestors(state.parent) : [];
    chain.forEach(function (code, i) {
      if (i) { crumbBox.appendChild(el('span', 'rm-crumb-sep', '›')); }
      var last = i === chain.length - 1;
      var b = el(last ? 'span' : 'button', last ? 'rm-crumb rm-crumb-here' : 'rm-crumb', regions[code].n);
      if (!last) { b.type = 'button'; b.onclick = function () { navigate(nextLevel(code), code); }; }
      crumbBox.appendChild(b);
    });
    viewBox.textContent = '';
    if (state.parent) {
      var below = ADMIN.slice(rankOfAdmin(regions[state.parent].l) + 1).filter(function (lv) {
        return rankOfAdmin(lv) <= rankOfAdmin('county') && descendantsAt(state.parent, lv).length;
      });
      if (below.length > 1) {
        below.forEach(function (lv) {
          var b = el('button', 'rm-view' + (lv === state.level ? ' rm-on' : ''), viewName(lv));
          b.type = 'button';
          b.onclick = function () { navigate(lv, state.parent); };
          viewBox.appendChild(b);
        });
      }
    }
    var buttons = document.querySelectorAll('.rm-domain');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].className = 'rm-domain' + (buttons[i].getAttribute('data-domain') === state.domain ? ' rm-on' : '');
    }
  }
  function renderLegend(focus) {
    legendBox.textContent = '';
    var counts = [0, 0, 0, 0], units = [0, 0, 0, 0], sites = [0, 0, 0, 0], none = 0;
    focus.forEach(function (code) {
      var s = stat(code);
      if (!s || s[0] < 0) { none++; } else { counts[s[0]]++; }
      if (s) { for (var i = 0; i < 4; i++) { units[i] += s[2 + i]; sites[i] += (s[10] || [0, 0, 0, 0])[i]; } }
    });
    add(legendBox, el('div', 'rm-legend-title', T.legend + ' · ' + (domainLabels[state.domain] || '')));
    var table = el('table', 'rm-legend-table');
    var head = el('tr');
    add(head, el('th'), el('th'), el('th', null, T.legend_regions), el('th', null, T.legend_units),
      el('th', null, T.legend_sites));
    table.appendChild(head);
    LEVELS.forEach(function (lv, i) {
      var tr = el('tr');
      var sw = el('td'); sw.appendChild(swatch(lv.color));
      add(tr, sw, el('td', 'rm-legend-label', lv.label), el('td', 'rm-num', counts[i]), el('td', 'rm-num', units[i]),
        el('td', 'rm-num', sites[i]));
      table.appendChild(tr);
    });
    if (none) {
      var tr = el('tr');
      var sw = el('td'); sw.appendChild(swatch(S.regions.no_data_color));
      add(tr, sw, el('td', 'rm-legend-label', T.no_data), el('td', 'rm-num', none), el('td'), el('td'));
      table.appendChild(tr);
    }
    legendBox.appendChild(table);
    legendBox.appendChild(el('div', 'rm-muted rm-legend-note', T.as_of + ' ' + META.as_of));
  }
  function renderInfo() {
    infoBox.textContent = '';
    var code = state.parent;
    if (!code || !regions[code]) { infoBox.style.display = 'none'; return; }
    infoBox.style.display = '';
    add(infoBox, el('div', 'rm-info-title', regions[code].n), regionCard(code, false));
    if (rankOfAdmin(state.level) < rankOfAdmin('county')) { add(infoBox, el('div', 'rm-hint', T.drill)); }
    if (regions[code].p && regions[regions[code].p]) {
      var b = el('button', 'rm-up', '‹ ' + T.back);
      b.type = 'button'; b.onclick = up;
      infoBox.appendChild(b);
    }
  }

  // ---------------------------------------------------------------- hazards
  var SYMBOL_PATHS = {
    circle: null,
    triangle: 'M12 2 L22 20 L2 20 Z',
    triangle_down: 'M2 4 L22 4 L12 22 Z',
    square: 'M4 4 H20 V20 H4 Z',
    diamond: 'M12 1 L23 12 L12 23 L1 12 Z',
    hexagon: 'M6 2 H18 L23 12 L18 22 H6 L1 12 Z',
    pentagon: 'M12 1 L23 9 L19 22 H5 L1 9 Z',
    star: 'M12 1 L15 9 H23 L17 14 L19 22 L12 17 L5 22 L7 14 L1 9 H9 Z'
  };
  function symbolIcon(type, rank) {
    var sym = S.hazards[type] || {symbol: 'circle', size: 12};
    var lv = levelOf(rank), size = sym.size;
    var NS = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24'); svg.setAttribute('width', size); svg.setAttribute('height', size);
    var shape;
    if (!SYMBOL_PATHS[sym.symbol]) {
      shape = document.createElementNS(NS, 'circle');
      shape.setAttribute('cx', 12); shape.setAttribute('cy', 12); shape.setAttribute('r', 10);
    } else {
      shape = document.createElementNS(NS, 'path');
      shape.setAttribute('d', SYMBOL_PATHS[sym.symbol]);
    }
    shape.setAttribute('fill', lv ? lv.color : S.regions.no_data_color);
    shape.setAttribute('stroke', S.hazard_style.stroke); shape.setAttribute('stroke-width', 2);
    svg.appendChild(shape);
    var wrap = el('div', 'rm-symbol'); wrap.appendChild(svg);
    return L.divIcon({className: 'rm-symbol-icon', html: wrap, iconSize: [size, size], iconAnchor: [size / 2, size / 2]});
  }
  function hazardTip(h) {
    var box = el('div', 'rm-tip');
    add(box, el('div', 'rm-tip-title', h.n));
    var line = el('div', 'rm-tip-line');
    add(line, levelBadge(h.r), el('span', 'rm-muted', ' ' + ((S.hazards[h.t] || {}).label || h.t)));
    return add(box, line);
  }
  function hazardCard(h) {
    var card = el('div', 'rm-card');
    add(card, el('div', 'rm-card-title', h.n));
    var head = el('div', 'rm-card-head');
    add(head, levelBadge(h.r), el('span', 'rm-index', T.score + ' ' + fmt(h.s)));
    add(card, head);
    var dl = el('dl', 'rm-dl');
    [[T.type, (S.hazards[h.t] || {}).label || h.t], [T.population, h.pop === null ? '–' : h.pop], ['ID', h.i]]
      .forEach(function (kv) { add(dl, el('dt', null, kv[0]), el('dd', null, kv[1])); });
    return add(card, dl);
  }
  function decodeLine(flat) { return decodeRing(flat); }
  var hazardLayers = {};
  // Hazard sites of the drilled-down area only (all of them at the top).
  function renderHazards() {
    groups.hazards.clearLayers();
    var inside = null;
    if (state.parent && regions[state.parent] && regions[state.parent].p) {
      inside = {};
      inside[state.parent] = true;
      ADMIN.forEach(function (lv) { descendantsAt(state.parent, lv).forEach(function (c) { inside[c] = true; }); });
    }
    var domains = cfg.hazard_domains || {};
    cfg.hazards.forEach(function (h) {
      var inDomain = state.domain === 'all' || domains[h.t] === state.domain;
      if (inDomain && (!inside || inside[h.c])) { groups.hazards.addLayer(hazardLayers[h.i]); }
    });
  }
  function buildHazards() {
    var hs = S.hazard_style;
    cfg.hazards.forEach(function (h) {
      var lv = levelOf(h.r), color = lv ? lv.color : S.regions.no_data_color;
      var sym = S.hazards[h.t] || {dash: ''};
      var layer;
      if (h.k === 'P') {
        layer = L.marker([h.g[1] * P, h.g[0] * P], {pane: 'rm-hazard-points', icon: symbolIcon(h.t, h.r), keyboard: false});
      } else if (h.k === 'L') {
        layer = L.polyline(h.g.map(decodeLine), {renderer: areaRenderer, color: color, weight: hs.line_width,
          dashArray: sym.dash || null, opacity: 1});
      } else {
        layer = L.polygon(decodePolygons(h.g), {renderer: areaRenderer, color: hs.stroke, weight: hs.polygon_width,
          dashArray: sym.dash || null, fillColor: color, fillOpacity: hs.polygon_fill_opacity});
      }
      layer.bindTooltip(function () { return hazardTip(h); }, {direction: 'top', className: 'rm-tooltip', opacity: 1});
      layer.bindPopup(function () { return hazardCard(h); }, {className: 'rm-popup', maxWidth: 360});
      hazardLayers[h.i] = layer;
    });
  }

  // ---------------------------------------------------------------- enterprises
  function unitTip(u) {
    var box = el('div', 'rm-tip');
    add(box, el('div', 'rm-tip-title', u.name));
    var line = el('div', 'rm-tip-line');
    add(line, levelBadge(u.rank), el('span', 'rm-tip-index', T.score + ' ' + fmt(u.score)));
    return add(box, line);
  }
  function unitCard(u) {
    var card = el('div', 'rm-card');
    add(card, el('div', 'rm-card-title', u.name));
    var head = el('div', 'rm-card-head');
    add(head, levelBadge(u.rank), el('span', 'rm-index', T.score + ' ' + fmt(u.score)));
    add(card, head);
    var dl = el('dl', 'rm-dl');
    var rows = [['ID', u.id], [T.domain, domainLabels[u.domain] || u.domain], [T.industry, u.industry]];
    if (u.address) { rows.push([T.address, u.address]); }
    if (u.override) { rows.push([T.override, u.override]); }
    rows.forEach(function (kv) { if (kv[1]) { add(dl, el('dt', null, kv[0]), el('dd', null, kv[1])); } });
    return add(card, dl);
  }
  function unitMarker(u, latlng) {
    var lv = levelOf(u.rank), es = S.enterprises;
    var m = L.circleMarker(latlng, {renderer: unitRenderer, radius: es.radius, color: es.stroke, weight: es.stroke_width,
      fillColor: lv ? lv.color : S.regions.no_data_color, fillOpacity: 1});
    m.bindTooltip(function () { return unitTip(u); }, {direction: 'top', className: 'rm-tooltip', opacity: 1});
    m.bindPopup(function () { return unitCard(u); }, {className: 'rm-popup', maxWidth: 360});
    m.unit = u;
    return m;
  }
  function clusterMarker(latlng, counts) {
    var es = S.enterprises, total = counts[0] + counts[1] + counts[2] + counts[3];
    var size = Math.round(Math.min(es.cluster_max_px, es.cluster_min_px +
      (es.cluster_max_px - es.cluster_min_px) * Math.log(Math.max(total, 1)) / Math.log(100000)));
    var stops = [], acc = 0, worst = null;
    for (var i = 0; i < 4; i++) {
      if (!counts[i]) { continue; }
      if (worst === null) { worst = i; }
      var from = 100 * acc / total; acc += counts[i];
      stops.push(LEVELS[i].color + ' ' + from.toFixed(2) + '% ' + (100 * acc / total).toFixed(2) + '%');
    }
    var ring = el('div', 'rm-cluster');
    ring.style.width = ring.style.height = size + 'px';
    ring.style.background = worst === null ? S.regions.no_data_color : LEVELS[worst].color;
    ring.style.background = 'conic-gradient(' + stops.join(', ') + ')';
    var inner = el('div', 'rm-cluster-count', compact(total));
    ring.appendChild(inner);
    var m = L.marker(latlng, {icon: L.divIcon({className: 'rm-cluster-icon', html: ring, iconSize: [size, size]}),
      keyboard: false, pane: 'rm-units'});
    m.bindTooltip(function () {
      var box = el('div', 'rm-tip');
      add(box, el('div', 'rm-tip-title', T.cluster + ' · ' + total));
      for (var j = 0; j < 4; j++) {
        var line = el('div', 'rm-tip-line');
        add(line, swatch(LEVELS[j].color), document.createTextNode(LEVELS[j].label + ' ' + counts[j]));
        box.appendChild(line);
      }
      return box;
    }, {direction: 'top', className: 'rm-tooltip', opacity: 1});
    m.on('click', function () { map.setView(latlng, Math.min(map.getZoom() + 2, map.getMaxZoom())); });
    return m;
  }

  var E = cfg.enterprises, P4 = 1e-4;
  function inlineUnit(row) {
    return {rank: row[2], domain: (E.domains || [])[row[3]], score: row[4], name: row[5], id: row[6],
      industry: row[7] >= 0 ? cfg.strings[row[7]] : '', override: row[8] >= 0 ? cfg.strings[row[8]] : ''};
  }
  var majorBuilt = false;
  // The city whose enterprises a drilled-down view shows (null: the whole map).
  function focusCity() {
    var chain = state.parent ? ancestors(state.parent) : [];
    for (var i = 0; i < chain.length; i++) { if (regions[chain[i]].l === 'city') { return chain[i]; } }
    return null;
  }
  function cityIndex() { var c = focusCity(); return c === null ? -2 : (E.cities || []).indexOf(c); }
  function domainMatch(row) {
    var city = cityIndex();
    return (state.domain === 'all' || E.domains[row[3]] === state.domain) && (city === -2 || row[9] === city);
  }
  function renderInlinePoints(group) {
    group.clearLayers();
    E.points.forEach(function (row) {
      if (domainMatch(row)) { group.addLayer(unitMarker(inlineUnit(row), [row[1] * P, row[0] * P])); }
    });
  }
  function refreshInline() {
    if (E.complete) { renderInlinePoints(groups.enterprises); return; }
    var key = state.domain + '|' + state.parent;
    if (!majorBuilt || groups.major.key !== key) {
      renderInlinePoints(groups.major); groups.major.key = key; majorBuilt = true;
    }
    var city = cityIndex();
    groups.enterprises.clearLayers();
    var layers = E.clusters[state.domain] || {}, z = map.getZoom();
    var zooms = Object.keys(layers).map(Number).sort(function (a, b) { return a - b; }), pick = zooms[0];
    for (var i = 0; i < zooms.length; i++) { if (zooms[i] <= z + 0.01) { pick = zooms[i]; } }
    var rows = layers[String(pick)] || [];
    var bounds = map.getBounds().pad(0.2);
    rows.forEach(function (c) {
      var ll = L.latLng(c[1] * P4, c[0] * P4);
      if (!bounds.contains(ll) || (city !== -2 && c[6] !== city)) { return; }
      var counts = [c[2], c[3], c[4], c[5]];
      var total = counts[0] + counts[1] + counts[2] + counts[3];
      groups.enterprises.addLayer(clusterMarker(ll, counts));
    });
  }
  var pending = null, served = {first: true};
  function refreshServed() {
    var b = map.getBounds();
    var url = fill(E.url, {
      bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(','),
      zoom: Math.floor(map.getZoom()), domain: state.domain, crs: META.crs, parent: state.parent || ''
    });
    if (pending) { pending.abort(); }
    var xhr = new XMLHttpRequest();
    pending = xhr;
    statusBox.textContent = T.loading;
    xhr.open('GET', url);
    xhr.onload = function () {
      pending = null;
      if (xhr.status !== 200) { statusBox.textContent = T.load_failed + ' (' + xhr.status + ')'; markReady(); return; }
      statusBox.textContent = '';
      var fc = JSON.parse(xhr.responseText);
      groups.enterprises.clearLayers();
      fc.features.forEach(function (f) {
        var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        if (p.cluster) {
          groups.enterprises.addLayer(clusterMarker(L.latLng(ll), [p.n_red, p.n_orange, p.n_yellow, p.n_blue]));
        } else {
          var rank = -1;
          LEVELS.forEach(function (lv, i) { if (lv.code === p.risk_level) { rank = i; } });
          groups.enterprises.addLayer(unitMarker({rank: rank, domain: p.domain, score: p.risk_score, name: p.name,
            id: p.id, industry: p.industry, address: p.address, override: p.override}, ll));
        }
      });
      markReady();
    };
    xhr.onerror = function () { pending = null; statusBox.textContent = T.load_failed; markReady(); };
    xhr.send();
  }
  function refreshEnterprises() {
    if (map.getZoom() < unitMinZoom - 1e-6) {  // not shown at this scale: fetch nothing
      if (pending) { pending.abort(); pending = null; }
      groups.enterprises.clearLayers();
      if (statusBox) { statusBox.textContent = ''; }
      markReady();
      return;
    }
    if (SERVED) { refreshServed(); } else { refreshInline(); }
  }

  // ---------------------------------------------------------------- domain
  function setDomain(code) {
    if (!domainLabels[code]) { return; }
    state.domain = code;
    render(false);
    refreshEnterprises();
  }

  // ---------------------------------------------------------------- start
  var readyMarked = false;
  function markReady() {
    if (readyMarked) { return; }
    readyMarked = true;
    window.riskmapReady = true;
    document.body.setAttribute('data-ready', '1');
  }
  buildHazards();
  render(true);
  if (!map._loaded) {
    var first = cfg.regions[0];
    map.setView(first ? [first.c[1], first.c[0]] : [30, 120], 7);
  }
  map.on('zoomend', function () {
    groups.labels.clearLayers();
    renderLabels(focusCodes(), contextCodes());
  });
  map.on('moveend', function () { refreshEnterprises(); });
  map.on('zoomend', applyVisibility);
  applyVisibility();
  refreshEnterprises();
  if (!SERVED) { markReady(); }

  // An API for wall-screen automation and tests.
  window.riskmap = {
    map: map,
    state: function () { return {level: state.level, parent: state.parent, domain: state.domain, zoom: map.getZoom()}; },
    setDomain: setDomain,
    drill: drill,
    up: up,
    view: function (level, parent) { navigate(level, parent === undefined ? state.parent : parent); },
    region: function (code) {
      var r = regions[code];
      return r ? {code: r.a, name: r.n, level: r.l, parent: r.p, label: r.c, stat: stat(code) || null} : null;
    },
    openRegion: function (code) { if (regions[code]) { openRegion(code); return true; } return false; },
    // for add-ons (response.js): a layers-panel row, a region-fill theme, parts of the region card, re-render calls
    addToggle: function (label, layer, minZoom, off, key) { var t = toggle(label, layer, minZoom, off, key); applyVisibility(); return t; },
    setRegionFill: function (fn) { fillOverride = fn || null; render(false); },
    addCardPart: function (fn) { cardHooks.push(fn); renderInfo(); },  // the open card gains the part too
    onRender: function (fn) { renderHooks.push(fn); },
    focus: function () { return focusCodes(); },
    control: control,
    el: el,
    openEnterprise: function (id) {
      var found = null;
      [groups.enterprises, groups.major].forEach(function (g) {
        g.eachLayer(function (m) { if (!found && m.unit && m.unit.id === id) { found = m; } });
      });
      if (!found || !map.hasLayer(found)) { return false; }
      found.openPopup();
      return true;
    },
    openHazard: function (id) {
      var layer = hazardLayers[id];
      if (!layer || !map.hasLayer(layer)) { return false; }
      layer.openPopup();
      return true;
    }
  };
})();
