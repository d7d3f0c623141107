// page.js: runs one env on the page (index.html). Steps the wasm env as fast as the speed
// control asks, renders once per animation frame, and publishes what happens in window.puffer:
//   steps, episode (finished), score (mean over finished episodes), return (agent 0, running),
//   last_return, sps, agent ('policy' | 'keyboard' | 'random'), keyboard (Shift held),
//   argmax, speed, log (the env's log fields), ready, error,
//   setAgent(name), setSpeed(x or 'max'), setArgmax(bool).
(function() {
  'use strict';
  var setup = window.PUFFER_SETUP;
  var policy = window.PUFFER_POLICY || null;
  var canvas = document.getElementById('canvas');
  var $ = function(id) { return document.getElementById(id); };
  var puffer = window.puffer = {steps: 0, episode: 0, score: null, sps: 0, ready: false,
                                error: null, speed: 1, log: {}};
  var AGENTS = {policy: 0, keyboard: 1, random: 2};

  function showError(message) {
    puffer.error = message;
    $('error').textContent = message;
  }

  function base64ToFloats(text) {
    var bytes = atob(text), n = bytes.length;
    var buffer = new ArrayBuffer(n), view = new Uint8Array(buffer);
    for (var i = 0; i < n; i++) view[i] = bytes.charCodeAt(i);
    return new Float32Array(buffer);  // the checkpoint payload is little-endian, like every browser
  }

  // Keeps the canvas at the env's aspect ratio, as large as the stage allows.
  function fit() {
    var stage = $('stage'), w = canvas.width, h = canvas.height;
    var scale = Math.min(stage.clientWidth / w, stage.clientHeight / h);
    canvas.style.width = Math.floor(w * scale) + 'px';
    canvas.style.height = Math.floor(h * scale) + 'px';
  }

  function start(M) {
    var call = function(name) { return M['_' + name].apply(null, [].slice.call(arguments, 1)); };
    var seed = (setup.seed >>> 0) || 1;
    if (call('web_init', seed)) return showError(M.UTF8ToString(call('web_error')));
    if (policy) {
      var weights = base64ToFloats(policy.weights);
      var ptr = call('malloc', weights.length * 4);
      M.HEAPF32.set(weights, ptr >> 2);
      var failed = call('web_load_policy', ptr, weights.length, policy.hidden_size,
                        policy.num_layers, seed);
      call('free', ptr);
      if (failed) showError('policy: ' + M.UTF8ToString(call('web_error')));
    }
    var options = policy && !puffer.error ? ['policy', 'keyboard', 'random'] : ['keyboard', 'random'];
    options.forEach(function(name) {
      var o = document.createElement('option');
      o.value = o.textContent = name;
      $('agent').appendChild(o);
    });
    $('name').textContent = 'PufferLib ' + setup.env + (policy ? ' (policy at step '
        + policy.global_step + ')' : '');
    var keys = call('web_act_size', 0) === 1 ? setup.continuous_keys : setup.keys;
    $('hint').textContent = (policy ? 'Hold Shift to take over with the keyboard: '
        : 'Keyboard: ') + keys;

    call('web_render');  // opens the "window": the canvas gets the env's native size
    fit();
    window.addEventListener('resize', fit);
    var nativeFps = call('puffer_web_target_fps') || 60;
    var owed = 0, last = performance.now(), statSteps = 0, statTime = last;

    puffer.setAgent = function(name) {
      if (options.indexOf(name) < 0) throw new Error('agent must be one of ' + options.join(', '));
      call('web_set_agent', AGENTS[name]);
      $('agent').value = name;
    };
    puffer.setSpeed = function(x) {
      puffer.speed = x === 'max' ? 'max' : Number(x);
      $('speed').value = String(x);
    };
    puffer.setArgmax = function(on) {
      call('web_set_argmax', on ? 1 : 0);
      $('argmax').checked = !!on;
    };
    $('agent').onchange = function() { puffer.setAgent(this.value); };
    $('speed').onchange = function() { puffer.setSpeed(this.value); };
    $('argmax').onchange = function() { puffer.setArgmax(this.checked); };
    puffer.setAgent(options[0]);

    function frame(now) {
      var dt = Math.min((now - last) / 1000, 0.25);
      last = now;
      if (puffer.speed === 'max') {
        // As many steps as fit in ~12 ms, leaving the rest of the frame to the browser.
        var t0 = performance.now(), chunk = 16;
        while (performance.now() - t0 < 12) statSteps += call('web_step', chunk);
      } else {
        owed += dt * nativeFps * puffer.speed;
        var n = Math.floor(owed);
        owed -= n;
        statSteps += call('web_step', n);
      }
      call('web_render');
      var status = JSON.parse(M.UTF8ToString(call('web_status')));
      for (var key in status) puffer[key] = status[key];
      if (now - statTime >= 500) {
        puffer.sps = Math.round(statSteps * 1000 / (now - statTime));
        statSteps = 0;
        statTime = now;
      }
      $('sps').textContent = puffer.sps;
      $('score').textContent = status.episode > 0 ? status.score.toFixed(1) : '-';
      $('episode').textContent = status.episode;
      $('return').textContent = status['return'].toFixed(1);
      requestAnimationFrame(frame);
    }
    puffer.ready = true;
    requestAnimationFrame(frame);
  }

  createPufferEnv({canvas: canvas}).then(start, function(e) { showError('wasm: ' + e); });
})();
