// canvas.js: the drawing and keyboard half of the web raylib subset (an emscripten --js-library;
// raylib_web.c is the C half). Draws on Module.canvas with its 2D context at the env's native
// size; the page scales the canvas element with CSS. Keys are tracked by KeyboardEvent.code and
// reported under raylib's key codes.
mergeInto(LibraryManager.library, {
  $PufferCanvas__postset: 'PufferCanvas.listen();',
  $PufferCanvas: {
    ctx: null,
    down: {},
    pressed: {},
    released: {},
    colours: {},
    // KeyboardEvent.code -> raylib key code (letters and digits are added in listen()).
    codes: {
      Space: 32, Quote: 39, Comma: 44, Minus: 45, Period: 46,
      Escape: 256, Enter: 257, Tab: 258, Backspace: 259,
      ArrowRight: 262, ArrowLeft: 263, ArrowDown: 264, ArrowUp: 265,
      ShiftLeft: 340, ControlLeft: 341, AltLeft: 342,
      ShiftRight: 344, ControlRight: 345, AltRight: 346,
    },
    // Keys whose browser default (scrolling, focus moves) would fight the game.
    captured: {Space: 1, ArrowRight: 1, ArrowLeft: 1, ArrowDown: 1, ArrowUp: 1, Tab: 1},
    listen: function() {
      var codes = PufferCanvas.codes;
      for (var i = 0; i < 26; i++) codes['Key' + String.fromCharCode(65 + i)] = 65 + i;
      for (var d = 0; d < 10; d++) codes['Digit' + d] = 48 + d;
      for (var f = 1; f <= 12; f++) codes['F' + f] = 289 + f;
      if (typeof window === 'undefined') return;
      window.addEventListener('keydown', function(e) {
        var key = codes[e.code];
        if (key === undefined) return;
        if (!PufferCanvas.down[key]) PufferCanvas.pressed[key] = 1;
        PufferCanvas.down[key] = 1;
        if (PufferCanvas.captured[e.code]) e.preventDefault();
      });
      window.addEventListener('keyup', function(e) {
        var key = codes[e.code];
        if (key === undefined) return;
        delete PufferCanvas.down[key];
        PufferCanvas.released[key] = 1;
      });
      // A key held while the page loses focus would otherwise stay down forever.
      window.addEventListener('blur', function() { PufferCanvas.down = {}; });
    },
    style: function(rgba) {
      var s = PufferCanvas.colours[rgba];
      if (s === undefined) {
        var u = rgba >>> 0;
        s = 'rgba(' + (u >>> 24) + ',' + ((u >>> 16) & 255) + ',' + ((u >>> 8) & 255) + ','
            + ((u & 255) / 255) + ')';
        PufferCanvas.colours[rgba] = s;
      }
      return s;
    },
  },

  puffer_canvas_open__deps: ['$PufferCanvas'],
  puffer_canvas_open: function(width, height, title) {
    var canvas = Module['canvas'];
    canvas.width = width;
    canvas.height = height;
    PufferCanvas.ctx = canvas.getContext('2d');
    if (typeof document !== 'undefined') document.title = UTF8ToString(title);
  },

  puffer_canvas_clear__deps: ['$PufferCanvas'],
  puffer_canvas_clear: function(rgba) {
    var ctx = PufferCanvas.ctx;
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    ctx.fillStyle = PufferCanvas.style(rgba);
    ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  },

  puffer_canvas_rect__deps: ['$PufferCanvas'],
  puffer_canvas_rect: function(x, y, w, h, rgba, filled) {
    var ctx = PufferCanvas.ctx;
    if (filled) {
      ctx.fillStyle = PufferCanvas.style(rgba);
      ctx.fillRect(x, y, w, h);
    } else {
      ctx.strokeStyle = PufferCanvas.style(rgba);
      ctx.lineWidth = 1;
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    }
  },

  puffer_canvas_line__deps: ['$PufferCanvas'],
  puffer_canvas_line: function(x0, y0, x1, y1, thick, rgba) {
    var ctx = PufferCanvas.ctx;
    ctx.strokeStyle = PufferCanvas.style(rgba);
    ctx.lineWidth = thick;
    ctx.lineCap = 'butt';
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
  },

  puffer_canvas_circle__deps: ['$PufferCanvas'],
  puffer_canvas_circle: function(x, y, r, rgba, filled) {
    var ctx = PufferCanvas.ctx;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    if (filled) {
      ctx.fillStyle = PufferCanvas.style(rgba);
      ctx.fill();
    } else {
      ctx.strokeStyle = PufferCanvas.style(rgba);
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  },

  puffer_canvas_triangle__deps: ['$PufferCanvas'],
  puffer_canvas_triangle: function(ax, ay, bx, by, cx, cy, rgba) {
    var ctx = PufferCanvas.ctx;
    ctx.fillStyle = PufferCanvas.style(rgba);
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    ctx.lineTo(cx, cy);
    ctx.closePath();
    ctx.fill();
  },

  puffer_canvas_text__deps: ['$PufferCanvas'],
  puffer_canvas_text: function(text, x, y, size, rgba) {
    var ctx = PufferCanvas.ctx;
    ctx.font = 'bold ' + size + 'px monospace';
    ctx.textBaseline = 'top';
    ctx.fillStyle = PufferCanvas.style(rgba);
    ctx.fillText(UTF8ToString(text), x, y);
  },

  puffer_canvas_measure__deps: ['$PufferCanvas'],
  puffer_canvas_measure: function(text, size) {
    var ctx = PufferCanvas.ctx;
    ctx.font = 'bold ' + size + 'px monospace';
    return Math.round(ctx.measureText(UTF8ToString(text)).width);
  },

  puffer_key_state__deps: ['$PufferCanvas'],
  puffer_key_state: function(key) {
    return (PufferCanvas.down[key] ? 1 : 0) | (PufferCanvas.pressed[key] ? 2 : 0)
        | (PufferCanvas.released[key] ? 4 : 0);
  },

  puffer_frame_end__deps: ['$PufferCanvas'],
  puffer_frame_end: function() {
    PufferCanvas.pressed = {};
    PufferCanvas.released = {};
  },

  puffer_now: function() {
    return performance.now() / 1000;
  },
});
