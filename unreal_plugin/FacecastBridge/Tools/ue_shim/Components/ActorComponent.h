// NOT Unreal: the UActorComponent surface FacecastReceiverComponent.h overrides (see ../README.md).
#pragma once

#include "CoreMinimal.h"

// Hot reload's throw-away construction tag: each UCLASS gets a constructor taking it (see GENERATED_BODY).
struct FVTableHelper {};

namespace EEndPlayReason
{
enum Type { Destroyed, LevelTransition, EndPlayInEditor, RemovedFromWorld, Quit };
}
enum ELevelTick { LEVELTICK_TimeOnly, LEVELTICK_ViewportsOnly, LEVELTICK_All, LEVELTICK_PauseTick };
struct FActorComponentTickFunction;

class UObject
{
public:
	UObject() = default;
	explicit UObject(FVTableHelper&) {}
	virtual ~UObject() = default;
};

class UActorComponent : public UObject
{
public:
	UActorComponent() = default;
	explicit UActorComponent(FVTableHelper& Helper) : UObject(Helper) {}
	virtual void BeginPlay() {}
	virtual void EndPlay(const EEndPlayReason::Type Reason) { (void)Reason; }
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
	{
		(void)DeltaTime, (void)TickType, (void)ThisTickFunction;
	}
};
