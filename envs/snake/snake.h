// snake.h: many snakes in one shared world (multi-agent; one agent per snake).
//
// A width x height grid holds num_snakes snakes and num_food pieces of food. Each step every
// snake moves one cell (up, down, left, right; a snake longer than one cell cannot turn
// straight back: it keeps going instead). Eating food gives food_reward and grows the snake by
// one cell, up to max_snake_length. Moving into a wall or any snake's body or head (its own
// included) gives -1 and ends that snake's episode: its body disappears and it respawns, one
// cell long, on a random empty cell.
// Snakes move in agent order, so when two reach the same cell the second one dies.
//
// Observation per agent: the (2*vision+1)^2 cells around its head, row-major, one byte per cell:
// 0 empty, 1 food, 2 wall (also everything beyond the border), 3 snake body, 4 snake head.
// Its own head is always the centre cell.
//
// Memory: the grid and the snakes' bodies (ring buffers of max_snake_length cells) are
// fixed-size arrays in the struct (the maxima below, checked by snake_check), so the same
// struct steps on the CPU or the GPU.
#include "ocean.h"

#define SNAKE_MAX_SNAKES 64
#define SNAKE_MAX_BODY_CELLS 4096   // num_snakes * max_snake_length
#define SNAKE_MAX_GRID 9216         // (width + 2 * vision) * (height + 2 * vision)

enum { CELL_EMPTY = 0, CELL_FOOD = 1, CELL_WALL = 2, CELL_BODY = 3, CELL_HEAD = 4 };
enum { SN_UP = 0, SN_DOWN = 1, SN_LEFT = 2, SN_RIGHT = 3 };

typedef struct {
    float perf;            // length / max_snake_length at death
    float score;           // length at death
    float episode_return;
    float episode_length;  // steps survived
    float n;               // snake episodes (deaths)
} Log;

// One snake. Its cells are grid indices in a ring buffer (snake i owns bodies[i *
// max_snake_length ...]): entry `head` is the head, the tail is length - 1 entries behind it.
typedef struct {
    int head;
    int length;
    int dir;
    int steps;
    float episode_return;
} Serpent;

typedef struct {
    Log log;
    unsigned char* observations;
    float* actions;
    float* rewards;
    float* terminals;
    float* truncations;
    int num_agents;
    uint32_t rng;
    // Config.
    int width, height;
    int num_snakes, num_food;
    int vision;
    int max_snake_length;
    float food_reward;
    // World. The grid is padded by `vision` wall cells on every side, so a view never reads
    // outside it; stride is the padded row length.
    int stride, rows;
    int food_count;
    unsigned char grid[SNAKE_MAX_GRID];
    int bodies[SNAKE_MAX_BODY_CELLS];
    Serpent snakes[SNAKE_MAX_SNAKES];
    int window_ready;
} Snake;

// Returns 0 if the config is playable, else 1 with a message.
static int snake_check(const Snake* env, char* msg, size_t len) {
    const char* why = NULL;
    if (env->width < 2 || env->height < 2) why = "width and height must be >= 2";
    else if (env->width > 4096 || env->height > 4096) why = "width and height must be <= 4096";
    else if (env->num_snakes < 1 || env->num_snakes > SNAKE_MAX_SNAKES)
        why = "num_snakes must be in [1, " PUFFER_STR(SNAKE_MAX_SNAKES) "]";
    else if (env->num_food < 0) why = "num_food must be >= 0";
    else if (env->vision < 1) why = "vision must be >= 1";
    else if (env->max_snake_length < 1) why = "max_snake_length must be >= 1";
    else if ((long)env->num_snakes * env->max_snake_length > SNAKE_MAX_BODY_CELLS)
        why = "num_snakes * max_snake_length must be <= " PUFFER_STR(SNAKE_MAX_BODY_CELLS);
    else if ((long)(env->width + 2 * env->vision) * (env->height + 2 * env->vision) > SNAKE_MAX_GRID)
        why = "(width + 2 * vision) * (height + 2 * vision) must be <= " PUFFER_STR(SNAKE_MAX_GRID);
    else if ((long)env->num_snakes * env->max_snake_length + env->num_food
             >= (long)env->width * env->height)
        why = "num_snakes * max_snake_length + num_food must be < width * height "
              "(there must always be room to respawn)";
    if (why) {
        snprintf(msg, len, "%s", why);
        return 1;
    }
    return 0;
}

// Sets the derived sizes of a checked config.
static void snake_init(Snake* env) {
    env->num_agents = env->num_snakes;
    env->stride = env->width + 2 * env->vision;
    env->rows = env->height + 2 * env->vision;
}

PUFFER_FN int* snake_body(Snake* env, int i) { return env->bodies + i * env->max_snake_length; }

PUFFER_FN int cell_at(const Snake* env, int r, int c) {
    return (r + env->vision) * env->stride + c + env->vision;
}

// A uniformly random empty cell: random probes first, then a scan from a random start.
// snake_check guarantees one exists.
PUFFER_FN int random_empty_cell(Snake* env) {
    for (int tries = 0; tries < 32; tries++) {
        int r = puffer_randint(&env->rng, env->height), c = puffer_randint(&env->rng, env->width);
        int cell = cell_at(env, r, c);
        if (env->grid[cell] == CELL_EMPTY) return cell;
    }
    int n = env->width * env->height, start = puffer_randint(&env->rng, n);
    for (int k = 0; k < n; k++) {
        int i = (start + k) % n, cell = cell_at(env, i / env->width, i % env->width);
        if (env->grid[cell] == CELL_EMPTY) return cell;
    }
    return -1;
}

PUFFER_FN void spawn_food(Snake* env) {
    while (env->food_count < env->num_food) {
        int cell = random_empty_cell(env);
        if (cell < 0) return;
        env->grid[cell] = CELL_FOOD;
        env->food_count += 1;
    }
}

PUFFER_FN void spawn_snake(Snake* env, int i) {
    Serpent* s = &env->snakes[i];
    int cell = random_empty_cell(env);
    s->head = 0;
    s->length = 1;
    snake_body(env, i)[0] = cell;
    s->dir = puffer_randint(&env->rng, 4);
    s->steps = 0;
    s->episode_return = 0;
    if (cell >= 0) env->grid[cell] = CELL_HEAD;
}

PUFFER_FN void snake_observe(Snake* env) {
    int side = 2 * env->vision + 1, v = env->vision;
    for (int i = 0; i < env->num_snakes; i++) {
        const Serpent* s = &env->snakes[i];
        const unsigned char* corner = env->grid + snake_body(env, i)[s->head] - v * env->stride - v;
        unsigned char* obs = env->observations + (size_t)i * side * side;
        for (int r = 0; r < side; r++) memcpy(obs + r * side, corner + r * env->stride, (size_t)side);
    }
}

PUFFER_FN void c_reset(Snake* env) {
    memset(env->grid, CELL_WALL, (size_t)env->stride * env->rows);
    for (int r = 0; r < env->height; r++)
        memset(env->grid + cell_at(env, r, 0), CELL_EMPTY, (size_t)env->width);
    env->food_count = 0;
    for (int i = 0; i < env->num_snakes; i++) spawn_snake(env, i);
    spawn_food(env);
    snake_observe(env);
}

PUFFER_FN void snake_die(Snake* env, int i) {
    Serpent* s = &env->snakes[i];
    env->rewards[i] = -1.0f;
    env->terminals[i] = 1.0f;
    s->episode_return += -1.0f;
    env->log.perf += (float)s->length / (float)env->max_snake_length;
    env->log.score += (float)s->length;
    env->log.episode_return += s->episode_return;
    env->log.episode_length += (float)s->steps;
    env->log.n += 1.0f;
    for (int k = 0; k < s->length; k++) {
        int idx = (s->head - k + env->max_snake_length) % env->max_snake_length;
        env->grid[snake_body(env, i)[idx]] = CELL_EMPTY;
    }
    spawn_snake(env, i);
}

PUFFER_FN void snake_move(Snake* env, int i) {
    const int opposite[4] = {SN_DOWN, SN_UP, SN_RIGHT, SN_LEFT};
    Serpent* s = &env->snakes[i];
    int* body = snake_body(env, i);
    int action = (int)env->actions[i];
    if (action >= 0 && action < 4 && !(action == opposite[s->dir] && s->length > 1)) s->dir = action;
    int delta = s->dir == SN_UP ? -env->stride : s->dir == SN_DOWN ? env->stride
              : s->dir == SN_LEFT ? -1 : 1;
    int head = body[s->head], next = head + delta;
    s->steps += 1;

    int eats = env->grid[next] == CELL_FOOD;
    int grows = eats && s->length < env->max_snake_length;
    if (!grows) {
        // The tail leaves its cell first, so a snake may follow its own tail.
        int tail = (s->head - (s->length - 1) + env->max_snake_length) % env->max_snake_length;
        env->grid[body[tail]] = CELL_EMPTY;
    }
    unsigned char target = env->grid[next];
    if (target == CELL_WALL || target == CELL_BODY || target == CELL_HEAD) {
        snake_die(env, i);
        return;
    }
    if (eats) {
        env->food_count -= 1;
        env->rewards[i] = env->food_reward;
        s->episode_return += env->food_reward;
    }
    if (s->length > 1 || grows) env->grid[head] = CELL_BODY;  // else the head was the tail
    s->head = (s->head + 1) % env->max_snake_length;
    body[s->head] = next;
    if (grows) s->length += 1;
    env->grid[next] = CELL_HEAD;
}

PUFFER_FN void c_step(Snake* env) {
    for (int i = 0; i < env->num_snakes; i++) {
        env->rewards[i] = 0.0f;
        env->terminals[i] = 0.0f;
    }
    for (int i = 0; i < env->num_snakes; i++) snake_move(env, i);
    spawn_food(env);
    snake_observe(env);
}

static void c_render(Snake* env) {
#if PUFFER_RENDER
    const int px = 12;
    if (!env->window_ready) {
        InitWindow(env->width * px, env->height * px, "PufferLib Snake");
        SetTargetFPS(10);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    for (int r = 0; r < env->height; r++) {
        for (int c = 0; c < env->width; c++) {
            unsigned char v = env->grid[cell_at(env, r, c)];
            Color color = v == CELL_FOOD ? PUFFER_RED : v == CELL_BODY ? PUFFER_CYAN : PUFFER_WHITE;
            if (v != CELL_EMPTY) DrawRectangle(c * px, r * px, px, px, color);
        }
    }
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(Snake* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}
