// tower_climb_solvable.c: breadth-first search over tower_climb's own rules (envs/tower_climb/
// tower_climb.h) to measure how many levels can be solved within the 60-step episode, and in how
// few moves. Host-only analysis tool; nothing in the env uses it.
//   gcc -O2 -Ienvs -Ienvs/tower_climb scripts/tower_climb_solvable.c -lm -o /tmp/tc_solve
//   /tmp/tc_solve gen [levels=200] [seed=1]      levels from the env's generator (c_reset)
//   /tmp/tc_solve file maps.bin [levels=200]     levels in the reference's maps.bin format
// Searches at most MAX_NODES states per level; "unknown" counts levels where it ran out first.
#include "tower_climb.h"

#define MAX_NODES 400000
#define TABLE_BITS 21
#define MAX_DEPTH TC_MAX_STEPS

typedef struct {
    unsigned char blocks[TC_BYTES];
    short pos, grabbed;
    unsigned char facing, hanging, depth;
} Node;

static uint64_t node_hash(const Node* n) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char* p = (const unsigned char*)n;
    for (size_t i = 0; i < offsetof(Node, depth); i++) h = (h ^ p[i]) * 1099511628211ull;
    return h | 1;  // 0 marks an empty slot
}

static uint64_t* table;
static Node* queue;

// 1 + the moves of a shortest solution, 0 if none within MAX_DEPTH, -1 if the search ran out.
static int solve(TowerClimb* env) {
    memset(table, 0, sizeof(uint64_t) << TABLE_BITS);
    int front = 0, rear = 0;
    Node start = {{0}, (short)env->pos, (short)env->grabbed, (unsigned char)env->facing,
                  (unsigned char)env->hanging, 0};
    memcpy(start.blocks, env->blocks, TC_BYTES);
    queue[rear++] = start;
    while (front < rear) {
        Node cur = queue[front++];
        if (cur.depth >= MAX_DEPTH) continue;
        for (int a = 0; a < 6; a++) {
            memcpy(env->blocks, cur.blocks, TC_BYTES);
            env->pos = cur.pos;
            env->grabbed = cur.grabbed;
            env->facing = cur.facing;
            env->hanging = cur.hanging;
            if (tc_apply(env, a) != TC_OK) continue;
            if (env->pos == env->goal + TC_FLOOR) return cur.depth + 2;
            Node next = {{0}, (short)env->pos, (short)env->grabbed, (unsigned char)env->facing,
                         (unsigned char)env->hanging, (unsigned char)(cur.depth + 1)};
            memcpy(next.blocks, env->blocks, TC_BYTES);
            uint64_t h = node_hash(&next);
            size_t slot = h & ((1u << TABLE_BITS) - 1);
            while (table[slot] && table[slot] != h) slot = (slot + 1) & ((1u << TABLE_BITS) - 1);
            if (table[slot]) continue;
            table[slot] = h;
            if (rear >= MAX_NODES) return -1;
            queue[rear++] = next;
        }
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2 || (strcmp(argv[1], "gen") != 0 && strcmp(argv[1], "file") != 0)) {
        fprintf(stderr, "usage: %s gen [levels] [seed] | file maps.bin [levels]\n", argv[0]);
        return 2;
    }
    int from_file = strcmp(argv[1], "file") == 0;
    FILE* fp = NULL;
    int levels = 200;
    uint32_t seed = 1;
    if (from_file) {
        if (argc < 3 || (fp = fopen(argv[2], "rb")) == NULL) {
            fprintf(stderr, "cannot open %s\n", argc < 3 ? "(no file given)" : argv[2]);
            return 2;
        }
        int count = 0;
        if (fread(&count, sizeof(int), 1, fp) != 1) return 2;
        levels = argc > 3 ? atoi(argv[3]) : 200;
        if (levels > count) levels = count;
    } else {
        levels = argc > 2 ? atoi(argv[2]) : 200;
        seed = argc > 3 ? (uint32_t)atoi(argv[3]) : 1;
    }
    table = calloc((size_t)1 << TABLE_BITS, sizeof(uint64_t));
    queue = malloc(sizeof(Node) * MAX_NODES);
    float reward = 0;
    unsigned char obs[TC_OBS_SIZE];
    TowerClimb env;
    memset(&env, 0, sizeof(env));
    env.rewards = &reward;
    env.observations = obs;
    env.rng = seed ? seed : 1;
    tower_climb_defaults(&env);
    int solved = 0, unsolvable = 0, unknown = 0, hist[MAX_DEPTH + 2] = {0};
    for (int i = 0; i < levels; i++) {
        if (from_file) {
            int header[6];
            if (fread(header, sizeof(int), 6, fp) != 6 || fread(env.blocks, 1, TC_BYTES, fp) != TC_BYTES) break;
            env.goal = header[4];
            env.pos = header[5];
            env.facing = TC_NZ;
            env.hanging = 0;
            env.grabbed = -1;
        } else {
            c_reset(&env);
        }
        int r = solve(&env);
        if (r > 0) {
            solved++;
            hist[r - 1]++;
        } else if (r == 0) {
            unsolvable++;
        } else {
            unknown++;
        }
    }
    printf("%d levels: %d solvable within %d moves, %d not, %d unknown (search cap %d states)\n",
           solved + unsolvable + unknown, solved, MAX_DEPTH, unsolvable, unknown, MAX_NODES);
    printf("shortest solution lengths:");
    for (int d = 0; d <= MAX_DEPTH; d++)
        if (hist[d]) printf(" %d:%d", d, hist[d]);
    printf("\n");
    free(table);
    free(queue);
    if (fp) fclose(fp);
    return 0;
}
