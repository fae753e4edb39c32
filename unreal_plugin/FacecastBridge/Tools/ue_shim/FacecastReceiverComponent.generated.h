// NOT Unreal: stands in for UnrealHeaderTool's FacecastReceiverComponent.generated.h (see README.md).
// For a UCLASS that declares no destructor, UHT's GENERATED_BODY declares the vtable-helper constructor
// and a virtual destructor here, and the class's .gen.cpp defines both (and sees only the header).
#pragma once

class UFacecastReceiverComponent;

#define GENERATED_BODY()                                                             \
public:                                                                              \
	typedef UActorComponent Super;                                                   \
	typedef UFacecastReceiverComponent ThisClass;                                    \
	UFacecastReceiverComponent(UFacecastReceiverComponent&&) = delete;               \
	UFacecastReceiverComponent(const UFacecastReceiverComponent&) = delete;          \
	UFacecastReceiverComponent(FVTableHelper& Helper);                               \
	virtual ~UFacecastReceiverComponent();                                           \
private:
