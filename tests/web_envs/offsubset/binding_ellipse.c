// binding_ellipse.c: offsubset drawing with DrawEllipse, a raylib call the web subset lacks.
#define OFFSUBSET_DRAW_ELLIPSE
#include "binding.c"
