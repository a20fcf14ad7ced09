// volk (Debian libvulkan-volk-dev, header + source): vkllm does not link libvulkan. The loader is
// opened at run time by volkInitialize() (device.cpp), so a machine without it gets vkllm's own
// error message from `vkllm doctor` instead of the dynamic linker refusing to start the program.
#include <volk.c>
