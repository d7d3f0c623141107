// maze.h: a single agent finds the exit of a procedurally generated maze (reference 4.0 rules:
// ocean/maze).
//
// A level is a square maze of odd side (map_size, or with map_size = -1 a random side in 5..45)
// carved by a growing-tree generator whose "difficulty" (uniform in [0, 1] per level) is the
// chance of extending the newest corridor (long winding paths) rather than a random earlier one
// (many short branches). The outer ring is wall. The agent starts at (1, 1); the goal is at
// (side - 2, side - 2). There are num_maps levels (8192); each episode plays one drawn uniformly.
//
// Actions: 0 stay, 1 east, 2 north, 3 west, 4 south; a move into a wall does nothing. Reaching the
// goal gives reward 1 and ends the episode; after 2 * side * side steps it is cut off (truncation)
// with reward 0. perf = share of episodes that reach the goal.
//
// Observation: 121 bytes, the 11 x 11 cells around the agent, row-major, north up: 0 empty,
// 1 wall, 2 the agent (always the centre), 4 the goal. Cells outside the maze read as wall.
//
// How this differs from the reference: the reference builds its num_maps levels once in a custom
// vec init and shares them between envs through a pointer. Our runtime creates envs one by one and
// step code may follow no shared host pointer, so a level is a pure function of its index: each
// reset draws an index and carves that level into the env's own grid (about 10-30 us for the
// largest, once per episode; skipped when the index repeats). Same distribution of levels, other
// mazes (another RNG). Fixed from the reference: cells outside the maze read as empty above, left
// of and below it but as wall to its right (leftovers of its buffers); they all read as wall here.
// Reaching the goal on the time limit's step logged the episode twice; a time-out set the terminal
// flag (now truncation). Action 0 meant "keep the last direction" but no direction was ever kept:
// it is stay, as it behaved.
#include "ocean.h"

#define MAZE_VISION 5
#define MAZE_WINDOW (2 * MAZE_VISION + 1)
#define MAZE_MAX 47                                   // largest side
#define MAZE_STRIDE (MAZE_MAX + 2 * MAZE_VISION)      // grid row length: the maze plus a wall margin
#define MAZE_CELLS ((MAZE_MAX / 2) * (MAZE_MAX / 2))  // carving cells (odd coordinates)

enum { MZ_EMPTY = 0, MZ_WALL = 1, MZ_AGENT = 2, MZ_GOAL = 4 };
enum { MZ_STAY = 0, MZ_EAST, MZ_NORTH, MZ_WEST, MZ_SOUTH };

typedef struct {
    float perf;            // 1 if the goal was reached
    float score;           // same
    float episode_return;
    float episode_length;
    float n;
} Log;

typedef struct {
    Log log;
    unsigned char* observations;
    float* actions;
    float* rewards;
    float* terminals;
    float* truncations;
    int num_agents;
    uint32_t rng;
    // Config, from the [env] section.
    int num_maps;
    int map_size;          // -1: each level draws its side
    // The level being played.
    int level;             // index in [0, num_maps), -1 before the first
    int side;
    int x, y;              // agent column and row in maze coordinates
    int tick;
    unsigned char grid[MAZE_STRIDE * MAZE_STRIDE];  // maze cell (r, c) at (r + VISION, c + VISION)
    // Scratch for the generator.
    uint16_t stack[MAZE_CELLS];
    unsigned char visited[MAZE_CELLS];
    int window_ready;
} Maze;

PUFFER_FN int maze_at(int r, int c) { return (r + MAZE_VISION) * MAZE_STRIDE + c + MAZE_VISION; }

// A well-mixed non-zero RNG state for level i (the level's own stream, independent of the env's).
PUFFER_FN uint32_t maze_level_seed(int i) {
    uint32_t z = (uint32_t)i * 0x9E3779B9u + 0x7F4A7C15u;
    z = (z ^ (z >> 16)) * 0x85EBCA6Bu;
    z = (z ^ (z >> 13)) * 0xC2B2AE35u;
    z ^= z >> 16;
    return z ? z : 1u;
}

// Carves level `level` into the grid: walls everywhere, then a growing tree over the odd cells.
PUFFER_FN void maze_generate(Maze* env, int level) {
    uint32_t rng = maze_level_seed(level);
    int side = env->map_size;
    if (side < 0) side = 5 + puffer_randint(&rng, MAZE_MAX - 5);
    if (side % 2 == 0) side -= 1;
    float difficulty = puffer_uniform(&rng);
    env->side = side;
    env->level = level;
    memset(env->grid, MZ_WALL, sizeof(env->grid));
    int cells = (side - 1) / 2;  // carving cells per row: maze coordinate 2 * i + 1
    for (int r = 0; r < cells; r++)
        for (int c = 0; c < cells; c++) env->grid[maze_at(2 * r + 1, 2 * c + 1)] = MZ_EMPTY;
    memset(env->visited, 0, (size_t)(cells * cells));
    const int dr[4] = {0, 1, 0, -1};
    const int dc[4] = {-1, 0, 1, 0};
    int start = puffer_randint(&rng, cells * cells);
    env->visited[start] = 1;
    env->stack[0] = (uint16_t)start;
    int top = 1;
    while (top > 0) {
        if (puffer_uniform(&rng) >= difficulty) {  // grow from a random cell, not the newest
            int i = puffer_randint(&rng, top);
            uint16_t t = env->stack[i];
            env->stack[i] = env->stack[top - 1];
            env->stack[top - 1] = t;
        }
        int cell = env->stack[top - 1], r = cell / cells, c = cell % cells;
        int dirs[4] = {0, 1, 2, 3};
        for (int i = 0; i < 3; i++) {
            int j = i + puffer_randint(&rng, 4 - i);
            int t = dirs[i];
            dirs[i] = dirs[j];
            dirs[j] = t;
        }
        int grew = 0;
        for (int k = 0; k < 4 && !grew; k++) {
            int nr = r + dr[dirs[k]], nc = c + dc[dirs[k]];
            if (nr < 0 || nr >= cells || nc < 0 || nc >= cells || env->visited[nr * cells + nc]) continue;
            env->visited[nr * cells + nc] = 1;
            env->stack[top++] = (uint16_t)(nr * cells + nc);
            env->grid[maze_at(2 * r + 1 + dr[dirs[k]], 2 * c + 1 + dc[dirs[k]])] = MZ_EMPTY;
            grew = 1;
        }
        if (!grew) top--;
    }
    env->grid[maze_at(side - 2, side - 2)] = MZ_GOAL;
}

PUFFER_FN void maze_observe(Maze* env) {
    unsigned char* o = env->observations;
    const unsigned char* g = env->grid + env->y * MAZE_STRIDE + env->x;  // window's top-left
    for (int r = 0; r < MAZE_WINDOW; r++) memcpy(o + r * MAZE_WINDOW, g + r * MAZE_STRIDE, MAZE_WINDOW);
    o[MAZE_VISION * MAZE_WINDOW + MAZE_VISION] = MZ_AGENT;
}

PUFFER_FN void maze_new_episode(Maze* env) {
    int level = puffer_randint(&env->rng, env->num_maps);
    if (level != env->level) maze_generate(env, level);  // play never changes the grid
    env->x = 1;
    env->y = 1;
    env->tick = 0;
}

PUFFER_FN void c_reset(Maze* env) {
    env->level = -1;
    maze_new_episode(env);
    maze_observe(env);
}

PUFFER_FN void c_step(Maze* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    env->truncations[0] = 0.0f;
    env->tick += 1;
    int action = (int)env->actions[0];
    int x = env->x, y = env->y;
    if (action == MZ_EAST) x += 1;
    else if (action == MZ_NORTH) y -= 1;
    else if (action == MZ_WEST) x -= 1;
    else if (action == MZ_SOUTH) y += 1;
    int cell = env->grid[maze_at(y, x)];
    int moved = (x != env->x || y != env->y) && cell != MZ_WALL;
    if (moved) {
        env->x = x;
        env->y = y;
    }
    int won = moved && cell == MZ_GOAL;
    if (won || env->tick >= 2 * env->side * env->side) {
        env->rewards[0] = won ? 1.0f : 0.0f;
        if (won) env->terminals[0] = 1.0f;
        else env->truncations[0] = 1.0f;
        env->log.perf += (float)won;
        env->log.score += (float)won;
        env->log.episode_return += (float)won;
        env->log.episode_length += (float)env->tick;
        env->log.n += 1.0f;
        maze_new_episode(env);
        maze_observe(env);
    } else if (moved) {
        maze_observe(env);
    }
}

static void c_render(Maze* env) {
#if PUFFER_RENDER
    const int px = 16;
    if (!env->window_ready) {
        InitWindow(MAZE_MAX * px, MAZE_MAX * px, "PufferLib Maze");
        SetTargetFPS(30);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    int off = (MAZE_MAX - env->side) * px / 2;  // centre smaller mazes
    // The agent's view, under the maze.
    DrawRectangle(off + (env->x - MAZE_VISION) * px, off + (env->y - MAZE_VISION) * px,
                  MAZE_WINDOW * px, MAZE_WINDOW * px, (Color){20, 60, 64, 255});
    for (int r = 0; r < env->side; r++) {
        for (int c = 0; c < env->side; c++) {
            int v = env->grid[maze_at(r, c)];
            if (v == MZ_WALL) DrawRectangle(off + c * px, off + r * px, px, px, (Color){84, 110, 122, 255});
            if (v == MZ_GOAL) {
                DrawRectangle(off + c * px + 2, off + r * px + 2, px - 4, px - 4, (Color){240, 200, 60, 255});
            }
        }
    }
    DrawCircle(off + env->x * px + px / 2, off + env->y * px + px / 2, px * 0.4f, PUFFER_CYAN);
    DrawText(TextFormat("level %d  step %d", env->level, env->tick), 6, 4, 16, PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(Maze* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}
