// tower_climb.h: the reference 4.0 Tower Climb, a 3-D block puzzle, single agent.
//
// The world is 10 floors of 10 x 10 cells (x, z on a floor, y up); a cell is a block or empty.
// A robot starts on floor 2 and must stand on top of the goal block, 5-8 floors up. It walks
// onto blocks, climbs one block up, steps or drops down, hangs from ledges and shimmies along
// them, and grabs blocks to push or pull them. A block stays up while a block is below it or
// below one of its four sides (edge support); otherwise it falls, and blocks it held up follow.
//
// Actions: Discrete(6): 0 +x, 1 +z, 2 -x, 3 -z (standing: turn to face that way first, then
// move, climb, drop, push or pull; hanging: -z climbs up, -x / +x shimmy left / right),
// 4 grab / release the block in front, 5 let go (drop from a ledge).
// Observation (228 uint8): a 9 (x) by 5 (z) by 5 (floors) window around the robot, index
// x + 9 z + 45 floor, each 0 empty, 1 block, 2 goal, 3 robot (the window slides to stay inside
// the world); then the robot's facing (0-3), hanging (0/1), holding a block (0/1).
// Rewards: reward_climb_row when a climb reaches a floor higher than any before in the episode,
// 1 for reaching the goal, -1 for falling out of the world or being crushed by a block,
// reward_illegal_move for a move the rules refuse, reward_fall_row for walking off a ledge,
// reward_move_block for a push, pull or turn while holding. An episode ends at the goal, at a
// death, or after 60 steps. perf = 1 for an episode that reached the goal, else 0; score = the
// highest floor climbed, counted from the start (floor 2) as in the reference.
//
// Levels: the reference ships 20,000 pre-generated levels (goal floor 5, 6, 7 or 8, each checked
// solvable by a breadth-first search with a minimum solution length) and shares them between
// envs through a custom vec init. Our runtime gives each env only its own struct, and step code
// may not allocate or search without bound, so each reset generates a fresh level in the env
// with the reference's generator (random blocks in a stepped region, spawn above a block on
// floor 2, goal on a uniformly drawn floor 5-8 beside a block below it). Levels are not checked
// for solvability, nor filtered by solution length: a breadth-first search over these rules
// (scripts/tower_climb_solvable.c) solved 92 of 100 generated levels within the 60 steps (7 ran
// past its 400k-state cap, 1 had no solution), with shortest solutions of 5-31 moves (median 12);
// on the reference's own levels it solved 99 of 100 (1 past the cap) in 10-27 moves (median 13).
// So the perf ceiling is a little below 1, and some levels are easier than any of the reference's.
//
// Fixes of reference bugs (behaviour otherwise follows the reference's rules):
//   - Episodes end with terminals = 1 at the goal and at a death, and truncations = 1 at the
//     60-step limit (the reference resets without ever setting a terminal).
//   - Cells outside the world are empty and cannot be entered (the reference reads past its
//     bitmask and lets x wrap onto the next row).
//   - A push whose last block would leave the world is refused (the reference deletes a block);
//     the goal cannot be pushed or pulled (the reference copies it into a new block, or counts
//     a pull that moves nothing as a block move); a move that would make the goal fall is refused
//     with the world unchanged (the reference refuses it after moving blocks).
//   - A falling block is moved once per fall: the reference can queue a cell twice and rebuild
//     a block that had already fallen.
//   - Letting go of a ledge falls to the first block below at floor 1 or above (the reference
//     stops early at cell 100 only).
#include "ocean.h"

#define TC_SIDE 10                       // cells per side of a floor
#define TC_FLOORS 10
#define TC_FLOOR (TC_SIDE * TC_SIDE)     // cells per floor
#define TC_CELLS (TC_FLOOR * TC_FLOORS)
#define TC_BYTES (TC_CELLS / 8)
#define TC_VIEW_X 9
#define TC_VIEW_Z 5
#define TC_VIEW_Y 5
#define TC_VIEW (TC_VIEW_X * TC_VIEW_Z * TC_VIEW_Y)
#define TC_OBS_SIZE (TC_VIEW + 3)
#define TC_MAX_STEPS 60
#define TC_SPAWN_FLOOR 2
#define TC_MIN_GOAL_FLOOR 5
#define TC_MAX_GOAL_FLOOR 8
#define TC_GEN_TRIES 32

enum { TC_PX = 0, TC_PZ = 1, TC_NX = 2, TC_NZ = 3, TC_GRAB = 4, TC_LET_GO = 5 };
enum { TC_ILLEGAL = 0, TC_OK = 1, TC_DEATH = 2 };

typedef struct {
    float perf;            // 1 if the goal was reached
    float score;           // highest floor climbed above the start
    float episode_return;
    float episode_length;  // steps
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
    // Config, from the [env] section (tower_climb_defaults sets the reference values).
    float reward_climb_row;
    float reward_fall_row;
    float reward_illegal_move;
    float reward_move_block;
    // Level and episode state. A cell index is x + 10 z + 100 floor.
    unsigned char blocks[TC_BYTES + 3];  // one bit per cell (+3 zero bytes: 24-bit reads)
    int goal;                        // the goal block's cell (not in blocks)
    int spawn;
    int pos;                         // the robot's cell
    int facing;                      // 0 +x, 1 +z, 2 -x, 3 -z
    int hanging;
    int grabbed;                     // cell of the held block, or -1
    int rows_cleared;
    int steps;
    float episode_return;
    int window_ready;
} TowerClimb;

static void tower_climb_defaults(TowerClimb* env) {
    env->reward_climb_row = 0.205371f;
    env->reward_fall_row = 0.0f;
    env->reward_illegal_move = -0.00397522f;
    env->reward_move_block = 0.0f;
}

static inline int tower_climb_check(const TowerClimb* env, char* msg, size_t len) {
    const float r[4] = {env->reward_climb_row, env->reward_fall_row, env->reward_illegal_move,
                        env->reward_move_block};
    const char* names[4] = {"reward_climb_row", "reward_fall_row", "reward_illegal_move",
                            "reward_move_block"};
    for (int i = 0; i < 4; i++) {
        if (!(r[i] >= -1.0f && r[i] <= 1.0f)) {
            snprintf(msg, len, "%s must be in [-1, 1] (got %g)", names[i], r[i]);
            return 1;
        }
    }
    return 0;
}

PUFFER_FN int tc_x(int c) { return c % TC_SIDE; }
PUFFER_FN int tc_z(int c) { return (c / TC_SIDE) % TC_SIDE; }
PUFFER_FN int tc_y(int c) { return c / TC_FLOOR; }
PUFFER_FN int tc_dx(int dir) { return dir == 0 ? 1 : (dir == 2 ? -1 : 0); }
PUFFER_FN int tc_dz(int dir) { return dir == 1 ? 1 : (dir == 3 ? -1 : 0); }

// The cell one step from c in direction dir on the same floor, or -1 outside the world.
PUFFER_FN int tc_step(int c, int dir) {
    if (c < 0) return -1;
    int x = tc_x(c) + tc_dx(dir), z = tc_z(c) + tc_dz(dir);
    if (x < 0 || x >= TC_SIDE || z < 0 || z >= TC_SIDE) return -1;
    return c + tc_dx(dir) + TC_SIDE * tc_dz(dir);
}

// The cell dy floors above c (below for dy < 0), or -1 outside the world.
PUFFER_FN int tc_up(int c, int dy) {
    if (c < 0) return -1;
    int y = tc_y(c) + dy;
    return y < 0 || y >= TC_FLOORS ? -1 : c + dy * TC_FLOOR;
}

PUFFER_FN int tc_block(const unsigned char* b, int c) {
    return c >= 0 && (b[c >> 3] >> (c & 7)) & 1;
}
PUFFER_FN void tc_set(unsigned char* b, int c) { b[c >> 3] |= (unsigned char)(1 << (c & 7)); }
PUFFER_FN void tc_clear(unsigned char* b, int c) { b[c >> 3] &= (unsigned char)~(1 << (c & 7)); }

PUFFER_FN int tc_solid(const TowerClimb* env, int c) {
    return c >= 0 && (tc_block(env->blocks, c) || c == env->goal);
}

// A block at c is held up by a block below it or below one of its four sides.
PUFFER_FN int tc_supported(const TowerClimb* env, int c) {
    int below = tc_up(c, -1);
    if (below < 0) return 0;
    if (tc_block(env->blocks, below)) return 1;
    for (int d = 0; d < 4; d++) {
        if (tc_block(env->blocks, tc_step(below, d))) return 1;
    }
    return 0;
}

PUFFER_FN int tc_loose(const TowerClimb* env, int c) {
    return tc_solid(env, c) && !tc_supported(env, c);
}

// Queues the loose cells among c and its four side neighbours (once each).
PUFFER_FN void tc_queue_loose(const TowerClimb* env, int c, short* queue, int* rear,
                              unsigned char* queued) {
    for (int d = -1; d < 4; d++) {
        int n = d < 0 ? c : tc_step(c, d);
        if (n < 0 || tc_block(queued, n) || !tc_loose(env, n)) continue;
        tc_set(queued, n);
        queue[(*rear)++] = (short)n;
    }
}

// Lets loose blocks fall after blocks left the cells in `vacated` and arrived in `arrived`.
// Returns 0 (the world left as it was found by the caller's copy) if the goal would fall.
PUFFER_FN int tc_settle(TowerClimb* env, const int* vacated, int num_vacated, const int* arrived,
                        int num_arrived) {
    short queue[TC_CELLS];
    unsigned char queued[TC_BYTES];
    memset(queued, 0, sizeof(queued));
    int front = 0, rear = 0;
    for (int i = 0; i < num_arrived; i++) {
        if (arrived[i] >= 0 && tc_loose(env, arrived[i]) && !tc_block(queued, arrived[i])) {
            tc_set(queued, arrived[i]);
            queue[rear++] = (short)arrived[i];
        }
    }
    for (int i = 0; i < num_vacated; i++) {
        int above = tc_up(vacated[i], 1);
        if (above >= 0) tc_queue_loose(env, above, queue, &rear, queued);
    }
    while (front < rear) {
        int c = queue[front++];
        tc_clear(queued, c);
        if (!tc_loose(env, c)) continue;  // already fell, or held up again
        if (c == env->goal) return 0;
        tc_clear(env->blocks, c);
        for (int f = tc_up(c, -1); f >= 0; f = tc_up(f, -1)) {
            if (tc_supported(env, f)) {  // lands here; below the world it is gone
                tc_set(env->blocks, f);
                break;
            }
        }
        int above = tc_up(c, 1);
        if (above >= 0 && rear + 5 <= TC_CELLS) tc_queue_loose(env, above, queue, &rear, queued);
    }
    return 1;
}

PUFFER_FN void tc_reward(TowerClimb* env, float r) {
    env->rewards[0] = r;  // the reference sets, not adds: the last event of a move counts
}

// Pushes the held block and the blocks in a row behind it one cell in direction dir.
PUFFER_FN int tc_push(TowerClimb* env, int dir) {
    int chain[TC_SIDE], n = 0;
    for (int c = tc_step(env->pos, dir); c >= 0 && tc_solid(env, c) && n < TC_SIDE; c = tc_step(c, dir)) {
        if (c == env->goal) return TC_ILLEGAL;
        chain[n++] = c;
    }
    if (n == 0 || tc_step(chain[n - 1], dir) < 0) return TC_ILLEGAL;
    int arrived[TC_SIDE];
    tc_clear(env->blocks, chain[0]);
    for (int i = 0; i < n; i++) {
        arrived[i] = tc_step(chain[i], dir);
        tc_set(env->blocks, arrived[i]);
    }
    env->grabbed = -1;
    return tc_settle(env, chain, n, arrived, n) ? TC_OK : TC_ILLEGAL;
}

// Pulls the held block into the robot's cell while the robot steps back (direction dir). With
// no floor behind, the robot drops and hangs from the ledge it stood on.
PUFFER_FN int tc_pull(TowerClimb* env, int dir) {
    int front = tc_step(env->pos, env->facing), back = tc_step(env->pos, dir);
    if (back < 0 || tc_block(env->blocks, back) || !tc_block(env->blocks, front)) return TC_ILLEGAL;
    tc_clear(env->blocks, front);
    tc_set(env->blocks, env->pos);
    int moved_to = env->pos;
    int floor_back = tc_up(back, -1);
    if (tc_block(env->blocks, floor_back)) {
        env->grabbed = env->pos;
        env->pos = back;
    } else {
        if (floor_back < 0) {  // no floor below at all: the reference lands in cell back - 100
            tc_set(env->blocks, front);
            tc_clear(env->blocks, moved_to);
            return TC_ILLEGAL;
        }
        env->pos = floor_back;
        env->hanging = 1;
        env->grabbed = -1;
    }
    return tc_settle(env, &front, 1, &moved_to, 1) ? TC_OK : TC_ILLEGAL;
}

// Climbs onto the solid cell in front (direction dir), if the two cells above are free.
PUFFER_FN int tc_climb(TowerClimb* env, int dir) {
    int above = tc_up(env->pos, 1), target = tc_step(above, dir);
    if (above < 0 || target < 0 || tc_solid(env, above) || tc_solid(env, target)) return TC_ILLEGAL;
    int cleared = tc_y(above) - TC_SPAWN_FLOOR;
    if (cleared > env->rows_cleared) {
        env->rows_cleared = cleared;
        tc_reward(env, env->reward_climb_row);
    }
    env->pos = target;
    env->hanging = 0;
    return TC_OK;
}

// Walks off a ledge: onto the block one floor down, or hanging from the ledge, facing back.
PUFFER_FN int tc_drop(TowerClimb* env, int dir) {
    int next = tc_step(env->pos, dir), below = tc_up(next, -1);
    if (below < 0) return TC_ILLEGAL;
    tc_reward(env, env->reward_fall_row);
    env->pos = below;
    if (!tc_block(env->blocks, tc_up(below, -1))) {
        env->facing = (env->facing + 2) % 4;
        env->hanging = 1;
    }
    return TC_OK;
}

// Falls from a ledge (or, standing while holding, stays): to the first block below.
PUFFER_FN int tc_let_go(TowerClimb* env) {
    for (int c = tc_up(env->pos, -1); c >= 0 && tc_y(c) >= 1; c = tc_up(c, -1)) {
        if (tc_block(env->blocks, c)) {
            env->pos = tc_up(c, 1);
            env->hanging = 0;
            return TC_OK;
        }
    }
    return TC_DEATH;
}

// Hanging, the reference reads the move actions as: -z climbs onto the ledge, +z is refused,
// -x shimmies to the robot's left and +x to its right, along the ledge or around its corners.
PUFFER_FN int tc_hang_move(TowerClimb* env, int action) {
    int f = env->facing, ledge = tc_step(env->pos, f);
    if (action == TC_NZ) {
        int top = tc_up(ledge, 1), over = tc_up(env->pos, 1);
        if (top < 0 || over < 0 || tc_block(env->blocks, top) || tc_block(env->blocks, over))
            return TC_ILLEGAL;
        env->pos = top;
        env->hanging = 0;
        return TC_OK;
    }
    if (action == TC_PZ) return TC_ILLEGAL;
    int side = action == TC_NX ? (f + 3) % 4 : (f + 1) % 4;
    int path = tc_step(env->pos, side), next_ledge = tc_step(ledge, side);
    if (path >= 0 && tc_block(env->blocks, path)) {  // inner corner: turn to face that block
        env->facing = side;
        return TC_OK;
    }
    if (next_ledge >= 0 && tc_block(env->blocks, next_ledge)) {  // the ledge goes on
        int over = tc_up(path, 1);
        if (path < 0 || over < 0 || tc_block(env->blocks, over)) return TC_ILLEGAL;
        env->pos = path;
        return TC_OK;
    }
    if (ledge < 0) return TC_ILLEGAL;
    // Outer corner: round the ledge block to its side face, facing it.
    int around = tc_step(ledge, side);
    if (around < 0 || tc_block(env->blocks, tc_up(around, 1))) return TC_ILLEGAL;
    env->pos = around;
    env->facing = (side + 2) % 4;
    return TC_OK;
}

PUFFER_FN int tc_apply(TowerClimb* env, int action) {
    int f = env->facing, next = tc_step(env->pos, f);
    int in_front = tc_solid(env, next);
    int holding = env->grabbed >= 0, move = action < 4;
    if (!env->hanging && !holding && move) {
        if (action != f) {
            env->facing = action;
            return TC_OK;
        }
        if (in_front) return tc_climb(env, f);
        if (next < 0) return TC_ILLEGAL;
        if (tc_block(env->blocks, tc_up(next, -1))) {
            env->pos = next;
            return TC_OK;
        }
        return tc_drop(env, f);
    }
    if (env->hanging && move) return tc_hang_move(env, action);
    if (action == TC_LET_GO) return (env->hanging || holding) ? tc_let_go(env) : TC_ILLEGAL;
    if (action == TC_GRAB) {
        if (holding) {
            env->grabbed = -1;
            return TC_OK;
        }
        if (env->hanging || !in_front) return TC_ILLEGAL;
        env->grabbed = next;
        return TC_OK;
    }
    // Standing and holding: push, pull, or turn away (which lets go).
    if (!in_front) return TC_ILLEGAL;
    unsigned char saved[TC_BYTES];
    memcpy(saved, env->blocks, TC_BYTES);
    int pos = env->pos, hanging = env->hanging, grabbed = env->grabbed;
    int result;
    if (action == f) {
        result = tc_push(env, action);
    } else if (action == (f + 2) % 4) {
        if (next == env->goal) return TC_ILLEGAL;
        result = tc_pull(env, action);
    } else {
        env->facing = action;
        env->grabbed = -1;
        result = TC_OK;
    }
    if (result == TC_ILLEGAL) {  // nothing moved
        memcpy(env->blocks, saved, TC_BYTES);
        env->pos = pos;
        env->hanging = hanging;
        env->grabbed = grabbed;
        return TC_ILLEGAL;
    }
    if (tc_block(env->blocks, env->pos)) return TC_DEATH;  // crushed by a falling block
    tc_reward(env, env->reward_move_block);
    return TC_OK;
}

// The reference's generator: each cell of a region that narrows with height (x, z in 1-7,
// floors 1 to goal - 1, z <= 8 - floor) holds a block with probability 1/2; the spawn is the
// first free cell found on floor 2 above a block; the goal goes on the goal floor beside a block
// one floor down (each candidate taken with probability 1/3). Returns 0 if either is missing.
PUFFER_FN int tc_generate(TowerClimb* env, int goal_floor) {
    memset(env->blocks, 0, TC_BYTES);
    env->spawn = -1;
    env->goal = -1;
    // Same cells and order as a scan of the whole world (floors up, z down, x up), skipping
    // cells that can hold neither a block nor the goal.
    for (int y = 1; y < goal_floor; y++) {
        for (int z = mini(7, 8 - y); z >= 1; z--) {
            for (int x = 1; x < 8; x++) {
                int c = x + TC_SIDE * z + TC_FLOOR * y;
                if (puffer_rand(&env->rng) & 1) tc_set(env->blocks, c);
                if (env->spawn < 0 && y == TC_SPAWN_FLOOR && tc_block(env->blocks, c - TC_FLOOR)) {
                    env->spawn = c;
                    tc_clear(env->blocks, c);
                }
            }
        }
    }
    for (int z = TC_SIDE - 1; z >= 0 && env->goal < 0; z--) {
        for (int x = 0; x < TC_SIDE && env->goal < 0; x++) {
            int below = x + TC_SIDE * z + TC_FLOOR * (goal_floor - 1);
            int beside = tc_block(env->blocks, tc_step(below, 1))
                         || tc_block(env->blocks, tc_step(below, 0))
                         || tc_block(env->blocks, tc_step(below, 2));
            if (beside && puffer_randint(&env->rng, 3) == 0) env->goal = below + TC_FLOOR;
        }
    }
    return env->spawn >= 0 && env->goal >= 0;
}

// A fixed stair of four blocks, used only if TC_GEN_TRIES random levels in a row lack a spawn
// or goal (rare: a small goal floor region left empty).
PUFFER_FN void tc_fallback_level(TowerClimb* env) {
    memset(env->blocks, 0, TC_BYTES);
    for (int y = 1; y <= 4; y++) {
        for (int k = 1; k <= y; k++) tc_set(env->blocks, (1 + y) + TC_SIDE * 4 + TC_FLOOR * k);
    }
    tc_set(env->blocks, 1 + TC_SIDE * 4 + TC_FLOOR * 1);
    env->spawn = 1 + TC_SIDE * 4 + TC_FLOOR * 2;
    env->goal = 6 + TC_SIDE * 4 + TC_FLOOR * 5;
}

// Window start along one axis: centred on c, slid to stay inside [0, size).
PUFFER_FN int tc_window(int c, int view, int size) {
    int start = c - view / 2;
    if (start < 0) start = 0;
    if (start + view > size) start = size - view;
    return start;
}

PUFFER_FN void tower_climb_observe(TowerClimb* env) {
    // spread[b]: the 4 bits of b as 4 bytes of 0/1 in memory order (little-endian: x86, CUDA)
    const uint32_t spread[16] = {
        0x00000000, 0x00000001, 0x00000100, 0x00000101, 0x00010000, 0x00010001, 0x00010100,
        0x00010101, 0x01000000, 0x01000001, 0x01000100, 0x01000101, 0x01010000, 0x01010001,
        0x01010100, 0x01010101};
    unsigned char* o = env->observations;
    int x0 = tc_window(tc_x(env->pos), TC_VIEW_X, TC_SIDE);
    int z0 = tc_window(tc_z(env->pos), TC_VIEW_Z, TC_SIDE);
    int y0 = tc_window(tc_y(env->pos) + 1, TC_VIEW_Y, TC_FLOORS);
    for (int y = 0; y < TC_VIEW_Y; y++) {
        for (int z = 0; z < TC_VIEW_Z; z++) {
            int first = x0 + TC_SIDE * (z0 + z) + TC_FLOOR * (y0 + y);
            const unsigned char* b = env->blocks + (first >> 3);
            uint32_t bits = ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16) >> (first & 7);
            unsigned char* out = o + TC_VIEW_X * (z + TC_VIEW_Z * y);
            memcpy(out, &spread[bits & 15], 4);  // 4 cells at a time: 4x fewer stores
            memcpy(out + 4, &spread[(bits >> 4) & 15], 4);
            out[8] = (unsigned char)((bits >> 8) & 1);
        }
    }
    int gx = tc_x(env->goal) - x0, gz = tc_z(env->goal) - z0, gy = tc_y(env->goal) - y0;
    if (gx >= 0 && gx < TC_VIEW_X && gz >= 0 && gz < TC_VIEW_Z && gy >= 0 && gy < TC_VIEW_Y)
        o[gx + TC_VIEW_X * (gz + TC_VIEW_Z * gy)] = 2;
    int px = tc_x(env->pos) - x0, pz = tc_z(env->pos) - z0, py = tc_y(env->pos) - y0;
    o[px + TC_VIEW_X * (pz + TC_VIEW_Z * py)] = 3;
    o[TC_VIEW] = (unsigned char)env->facing;
    o[TC_VIEW + 1] = (unsigned char)env->hanging;
    o[TC_VIEW + 2] = (unsigned char)(env->grabbed >= 0);
}

PUFFER_FN void c_reset(TowerClimb* env) {
    int ok = 0;
    for (int i = 0; i < TC_GEN_TRIES && !ok; i++) {
        int goal_floor = TC_MIN_GOAL_FLOOR + puffer_randint(&env->rng, TC_MAX_GOAL_FLOOR - TC_MIN_GOAL_FLOOR + 1);
        ok = tc_generate(env, goal_floor);
    }
    if (!ok) tc_fallback_level(env);
    env->pos = env->spawn;
    env->facing = TC_NZ;
    env->hanging = 0;
    env->grabbed = -1;
    env->rows_cleared = 0;
    env->steps = 0;
    env->episode_return = 0.0f;
    tower_climb_observe(env);
}

PUFFER_FN void tower_climb_end(TowerClimb* env, float perf, int truncated) {
    if (truncated) env->truncations[0] = 1.0f;
    else env->terminals[0] = 1.0f;
    env->log.perf += perf;
    env->log.score += (float)env->rows_cleared;
    env->log.episode_return += env->episode_return;
    env->log.episode_length += (float)env->steps;
    env->log.n += 1.0f;
    c_reset(env);
}

PUFFER_FN void c_step(TowerClimb* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    env->truncations[0] = 0.0f;
    env->steps += 1;
    int action = (int)env->actions[0];
    int result = tc_apply(env, action);
    if (result == TC_ILLEGAL) tc_reward(env, env->reward_illegal_move);
    if (result == TC_DEATH) tc_reward(env, -1.0f);
    int won = result == TC_OK && tc_up(env->goal, 1) == env->pos;
    if (won) tc_reward(env, 1.0f);
    env->episode_return += env->rewards[0];
    if (result == TC_DEATH || won) {
        tower_climb_end(env, won ? 1.0f : 0.0f, 0);
        return;
    }
    if (env->steps >= TC_MAX_STEPS) {
        tower_climb_end(env, 0.0f, 1);
        return;
    }
    tower_climb_observe(env);
}

// Drawing: the tower as cubes seen from a slowly turning camera; the goal gold, the robot a
// cyan body with a white nose pointing where it faces (red body while hanging).
static void c_render(TowerClimb* env) {
#if PUFFER_RENDER
    if (!env->window_ready) {
        InitWindow(720, 720, "PufferLib Tower Climb");
        SetTargetFPS(8);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    Camera3D cam = {0};
    cam.target = (Vector3){5.0f, 4.0f, 5.0f};
    cam.position = (Vector3){5.0f + 13.0f, 12.0f, 5.0f + 13.0f};
    cam.up = (Vector3){0, 1, 0};
    cam.fovy = 45.0f;
    cam.projection = CAMERA_PERSPECTIVE;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    BeginMode3D(cam);
    DrawGrid(10, 1.0f);
    for (int c = 0; c < TC_CELLS; c++) {
        Vector3 p = {tc_x(c) + 0.5f, tc_y(c) - 0.5f, tc_z(c) + 0.5f};
        if (c == env->goal) {
            DrawCube(p, 0.95f, 0.95f, 0.95f, (Color){230, 190, 40, 255});
        } else if (tc_block(env->blocks, c)) {
            unsigned char shade = (unsigned char)(70 + 15 * tc_y(c));
            Color col = c == env->grabbed ? PUFFER_CYAN : (Color){shade, shade, (unsigned char)(shade + 20), 255};
            DrawCube(p, 0.95f, 0.95f, 0.95f, col);
            DrawCubeWires(p, 0.96f, 0.96f, 0.96f, (Color){20, 30, 40, 255});
        }
    }
    Vector3 r = {tc_x(env->pos) + 0.5f, tc_y(env->pos) - 0.5f, tc_z(env->pos) + 0.5f};
    DrawCube(r, 0.55f, 0.8f, 0.55f, env->hanging ? PUFFER_RED : PUFFER_CYAN);
    Vector3 nose = {r.x + 0.35f * tc_dx(env->facing), r.y + 0.2f, r.z + 0.35f * tc_dz(env->facing)};
    DrawSphere(nose, 0.12f, PUFFER_WHITE);
    EndMode3D();
    DrawText(TextFormat("Floor %d   Goal floor %d   Step %d", tc_y(env->pos), tc_y(env->goal),
                        env->steps), 10, 10, 22, PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(TowerClimb* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}
