// NOT Unreal: what a UHT .gen.cpp needs to define a class's special members (see ../README.md).
#pragma once

// As UObject/ObjectMacros.h defines it: the hot-reload constructor only forwards to the super class, but
// like any constructor it default-initializes, and so may have to destroy, every member.
#define DEFINE_VTABLE_PTR_HELPER_CTOR(TClass) \
	TClass::TClass(FVTableHelper& Helper) : Super(Helper) {};
