// raylib_web.c: the raylib subset of envs/web/raylib.h for the browser. The C side keeps the
// window state, formats text and turns raylib's by-value structs into plain numbers; canvas.js
// (an emscripten JS library) draws them on the page's <canvas> with its 2D context and keeps the
// keyboard state.
#include <stdarg.h>
#include <stdio.h>

#include "raylib.h"

// Implemented in canvas.js. Colours travel packed as 0xRRGGBBAA.
extern void puffer_canvas_open(int width, int height, const char* title);
extern void puffer_canvas_clear(unsigned int rgba);
extern void puffer_canvas_rect(float x, float y, float w, float h, unsigned int rgba, int filled);
extern void puffer_canvas_line(float x0, float y0, float x1, float y1, float thick, unsigned int rgba);
extern void puffer_canvas_circle(float x, float y, float r, unsigned int rgba, int filled);
extern void puffer_canvas_triangle(float ax, float ay, float bx, float by, float cx, float cy,
                                   unsigned int rgba);
extern void puffer_canvas_text(const char* text, int x, int y, int size, unsigned int rgba);
extern int puffer_canvas_measure(const char* text, int size);
extern int puffer_key_state(int key);  // bit 0 down, bit 1 pressed, bit 2 released
extern void puffer_frame_end(void);    // clears pressed / released
extern double puffer_now(void);        // seconds, monotonic

typedef struct {
    int ready;
    int width, height;
    int target_fps;
    double start, last_frame, frame_time;
    int frames_this_second, fps;
    double second_start;
} Window;

static Window window = {0};  // one canvas per page: the only global of the web runtime

static unsigned int pack(Color c) {
    return ((unsigned int)c.r << 24) | ((unsigned int)c.g << 16) | ((unsigned int)c.b << 8) | c.a;
}

void InitWindow(int width, int height, const char* title) {
    puffer_canvas_open(width, height, title);
    window.ready = 1;
    window.width = width;
    window.height = height;
    window.start = window.last_frame = window.second_start = puffer_now();
}

void CloseWindow(void) { window.ready = 0; }
bool IsWindowReady(void) { return window.ready; }
bool WindowShouldClose(void) { return false; }
void SetConfigFlags(unsigned int flags) { (void)flags; }
void SetTraceLogLevel(int level) { (void)level; }
void SetTargetFPS(int fps) { window.target_fps = fps; }
int GetScreenWidth(void) { return window.width; }
int GetScreenHeight(void) { return window.height; }

// The page reads the env's preferred frame rate to set its default speed.
int puffer_web_target_fps(void) { return window.target_fps; }

void BeginDrawing(void) {}

void EndDrawing(void) {
    double now = puffer_now();
    window.frame_time = now - window.last_frame;
    window.last_frame = now;
    window.frames_this_second++;
    if (now - window.second_start >= 1.0) {
        window.fps = window.frames_this_second;
        window.frames_this_second = 0;
        window.second_start = now;
    }
    puffer_frame_end();
}

void ClearBackground(Color color) { puffer_canvas_clear(pack(color)); }

double GetTime(void) { return puffer_now() - window.start; }
float GetFrameTime(void) { return (float)window.frame_time; }
int GetFPS(void) { return window.fps; }

bool IsKeyDown(int key) { return (puffer_key_state(key) & 1) != 0; }
bool IsKeyUp(int key) { return (puffer_key_state(key) & 1) == 0; }
bool IsKeyPressed(int key) { return (puffer_key_state(key) & 2) != 0; }
bool IsKeyReleased(int key) { return (puffer_key_state(key) & 4) != 0; }

void DrawPixel(int x, int y, Color color) { puffer_canvas_rect(x, y, 1, 1, pack(color), 1); }

void DrawLine(int x0, int y0, int x1, int y1, Color color) {
    puffer_canvas_line(x0 + 0.5f, y0 + 0.5f, x1 + 0.5f, y1 + 0.5f, 1.0f, pack(color));
}

void DrawLineV(Vector2 start, Vector2 end, Color color) {
    puffer_canvas_line(start.x, start.y, end.x, end.y, 1.0f, pack(color));
}

void DrawLineEx(Vector2 start, Vector2 end, float thick, Color color) {
    puffer_canvas_line(start.x, start.y, end.x, end.y, thick, pack(color));
}

void DrawRectangle(int x, int y, int width, int height, Color color) {
    puffer_canvas_rect(x, y, width, height, pack(color), 1);
}

void DrawRectangleV(Vector2 position, Vector2 size, Color color) {
    puffer_canvas_rect(position.x, position.y, size.x, size.y, pack(color), 1);
}

void DrawRectangleLines(int x, int y, int width, int height, Color color) {
    puffer_canvas_rect(x, y, width, height, pack(color), 0);
}

void DrawCircle(int x, int y, float radius, Color color) {
    puffer_canvas_circle(x, y, radius, pack(color), 1);
}

void DrawCircleV(Vector2 center, float radius, Color color) {
    puffer_canvas_circle(center.x, center.y, radius, pack(color), 1);
}

void DrawCircleLines(int x, int y, float radius, Color color) {
    puffer_canvas_circle(x, y, radius, pack(color), 0);
}

void DrawCircleLinesV(Vector2 center, float radius, Color color) {
    puffer_canvas_circle(center.x, center.y, radius, pack(color), 0);
}

void DrawTriangle(Vector2 a, Vector2 b, Vector2 c, Color color) {
    puffer_canvas_triangle(a.x, a.y, b.x, b.y, c.x, c.y, pack(color));
}

void DrawText(const char* text, int x, int y, int font_size, Color color) {
    puffer_canvas_text(text, x, y, font_size, pack(color));
}

int MeasureText(const char* text, int font_size) { return puffer_canvas_measure(text, font_size); }

// Like raylib: a few rotating static buffers, so a call's result lives until a few calls later.
const char* TextFormat(const char* format, ...) {
    static char buffers[4][512];
    static int next = 0;
    char* out = buffers[next];
    next = (next + 1) % 4;
    va_list args;
    va_start(args, format);
    vsnprintf(out, sizeof(buffers[0]), format, args);
    va_end(args);
    return out;
}

Color Fade(Color color, float alpha) { return ColorAlpha(color, alpha); }

Color ColorAlpha(Color color, float alpha) {
    if (alpha < 0.0f) alpha = 0.0f;
    if (alpha > 1.0f) alpha = 1.0f;
    color.a = (unsigned char)(255.0f * alpha);
    return color;
}
