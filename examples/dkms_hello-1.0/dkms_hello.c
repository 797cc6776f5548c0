// SPDX-License-Identifier: GPL-2.0
/* The example module the README demo builds and installs with dkms. */
#include <linux/module.h>
#include <linux/init.h>

static int __init dkms_hello_init(void)
{
	pr_info("dkms_hello: loaded\n");
	return 0;
}

static void __exit dkms_hello_exit(void)
{
	pr_info("dkms_hello: unloaded\n");
}

module_init(dkms_hello_init);
module_exit(dkms_hello_exit);
MODULE_DESCRIPTION("Example module for the dkms demo");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0");
