// raylib.h for the browser build: the subset of raylib that Ocean envs draw with, implemented
// on an HTML canvas (raylib_web.c + canvas.js). Same names, types and meanings as raylib, so an
// env's c_render compiles unchanged. Anything not declared here is outside the subset: the web
// build fails on it (implicit declarations are errors there) and names the call.
//
// Adding a call: declare it here, implement it in raylib_web.c (and canvas.js if it draws),
// and draw with it in an env.
#ifndef PUFFER_WEB_RAYLIB_H
#define PUFFER_WEB_RAYLIB_H

#include <stdbool.h>

typedef struct Color { unsigned char r, g, b, a; } Color;
typedef struct Vector2 { float x, y; } Vector2;

// Config flags: accepted and ignored (the canvas is always smoothed).
enum { FLAG_VSYNC_HINT = 0x40, FLAG_MSAA_4X_HINT = 0x20, FLAG_WINDOW_HIGHDPI = 0x2000 };
// Trace log levels: accepted and ignored (nothing is logged).
enum { LOG_ALL = 0, LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_FATAL, LOG_NONE };

// Key codes (raylib's values; canvas.js maps browser key codes onto them).
enum {
    KEY_SPACE = 32, KEY_APOSTROPHE = 39, KEY_COMMA = 44, KEY_MINUS = 45, KEY_PERIOD = 46,
    KEY_ZERO = 48, KEY_ONE, KEY_TWO, KEY_THREE, KEY_FOUR, KEY_FIVE, KEY_SIX, KEY_SEVEN, KEY_EIGHT,
    KEY_NINE,
    KEY_A = 65, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
    KEY_ESCAPE = 256, KEY_ENTER = 257, KEY_TAB = 258, KEY_BACKSPACE = 259,
    KEY_RIGHT = 262, KEY_LEFT = 263, KEY_DOWN = 264, KEY_UP = 265,
    KEY_F1 = 290, KEY_F12 = 301,
    KEY_LEFT_SHIFT = 340, KEY_LEFT_CONTROL = 341, KEY_LEFT_ALT = 342,
    KEY_RIGHT_SHIFT = 344, KEY_RIGHT_CONTROL = 345, KEY_RIGHT_ALT = 346,
};

// Window and frame. The "window" is the page's canvas; it never asks to close.
void InitWindow(int width, int height, const char* title);
void CloseWindow(void);
bool IsWindowReady(void);
bool WindowShouldClose(void);
void SetConfigFlags(unsigned int flags);
void SetTraceLogLevel(int level);
void SetTargetFPS(int fps);
int GetScreenWidth(void);
int GetScreenHeight(void);
void BeginDrawing(void);
void EndDrawing(void);
void ClearBackground(Color color);

// Timing.
double GetTime(void);        // seconds since InitWindow
float GetFrameTime(void);    // seconds between the last two EndDrawing calls
int GetFPS(void);

// Keyboard: down now / went down since the previous frame / went up since the previous frame.
bool IsKeyDown(int key);
bool IsKeyUp(int key);
bool IsKeyPressed(int key);
bool IsKeyReleased(int key);

// Shapes and text (pixels, origin top left, y down).
void DrawPixel(int x, int y, Color color);
void DrawLine(int x0, int y0, int x1, int y1, Color color);
void DrawLineV(Vector2 start, Vector2 end, Color color);
void DrawLineEx(Vector2 start, Vector2 end, float thick, Color color);
void DrawRectangle(int x, int y, int width, int height, Color color);
void DrawRectangleV(Vector2 position, Vector2 size, Color color);
void DrawRectangleLines(int x, int y, int width, int height, Color color);
void DrawCircle(int x, int y, float radius, Color color);
void DrawCircleV(Vector2 center, float radius, Color color);
void DrawCircleLines(int x, int y, float radius, Color color);
void DrawCircleLinesV(Vector2 center, float radius, Color color);
void DrawTriangle(Vector2 a, Vector2 b, Vector2 c, Color color);
void DrawText(const char* text, int x, int y, int font_size, Color color);
int MeasureText(const char* text, int font_size);
const char* TextFormat(const char* format, ...);
Color Fade(Color color, float alpha);
Color ColorAlpha(Color color, float alpha);

#define LIGHTGRAY (Color){200, 200, 200, 255}
#define GRAY (Color){130, 130, 130, 255}
#define DARKGRAY (Color){80, 80, 80, 255}
#define YELLOW (Color){253, 249, 0, 255}
#define GOLD (Color){255, 203, 0, 255}
#define ORANGE (Color){255, 161, 0, 255}
#define RED (Color){230, 41, 55, 255}
#define GREEN (Color){0, 228, 48, 255}
#define BLUE (Color){0, 121, 241, 255}
#define WHITE (Color){255, 255, 255, 255}
#define BLACK (Color){0, 0, 0, 255}
#define BLANK (Color){0, 0, 0, 0}

#endif
