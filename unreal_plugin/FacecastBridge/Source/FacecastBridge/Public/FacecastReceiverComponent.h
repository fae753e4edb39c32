// Receives facecast frames into a transient texture and ARKit blendshape curves (bridge protocol v1).
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"

#include "FacecastReceiverComponent.generated.h"

class FFacecastLiveLinkSource;
class FFacecastReceiverWorker;
class UFacecastReceiverComponent;
class UTexture2D;
struct FFacecastReceived;

DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(FFacecastFrameEvent, UFacecastReceiverComponent*, Receiver);

UCLASS(ClassGroup = (Facecast), meta = (BlueprintSpawnableComponent, DisplayName = "Facecast Receiver"))
class FACECASTBRIDGE_API UFacecastReceiverComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	UFacecastReceiverComponent();

	/** Host of the facecast publisher ('facecast run --publish'). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast")
	FString Host = TEXT("127.0.0.1");

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast", meta = (ClampMin = 1, ClampMax = 65535))
	int32 Port = 5570;

	/** Subscribe to the parameter feed only: no pixels cross the network. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast")
	bool bParametersOnly = false;

	/** Also publish the curves as a Live Link subject (Basic role, ARKit curve names). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast|Live Link")
	bool bPublishToLiveLink = true;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast|Live Link")
	FName LiveLinkSubject = TEXT("Facecast");

	/** The newest picture (PF_B8G8R8A8, rows top-down as in the protocol). */
	UPROPERTY(VisibleInstanceOnly, BlueprintReadOnly, Transient, Category = "Facecast")
	TObjectPtr<UTexture2D> Texture;

	/** ARKit blendshape name -> weight in [0, 1]. */
	UPROPERTY(VisibleInstanceOnly, BlueprintReadOnly, Category = "Facecast")
	TMap<FName, float> BlendShapes;

	/** Head yaw, pitch, roll in radians (zero when the publisher sent none). */
	UPROPERTY(VisibleInstanceOnly, BlueprintReadOnly, Category = "Facecast")
	FVector HeadRotationRad = FVector::ZeroVector;

	UPROPERTY(VisibleInstanceOnly, BlueprintReadOnly, Category = "Facecast")
	FString Status;

	/** What drove the mouth of the newest frame: "tracker", "audio" (lip-sync) or "mixed". */
	UPROPERTY(VisibleInstanceOnly, BlueprintReadOnly, Category = "Facecast")
	FString MouthSource = TEXT("tracker");

	/** Capture-to-game-thread latency of the newest frame, in milliseconds. */
	UPROPERTY(VisibleInstanceOnly, BlueprintReadOnly, Category = "Facecast")
	float LatencyMs = 0.f;

	UPROPERTY(BlueprintAssignable, Category = "Facecast")
	FFacecastFrameEvent OnFrame;

	UFUNCTION(BlueprintPure, Category = "Facecast")
	float GetBlendShape(FName Name) const;

	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type Reason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	void UploadPicture(FFacecastReceived&& Received);
	void ReportStatus();
	void LogOnce(const FString& Error);

	// Both types stay incomplete here. UnrealHeaderTool's .gen.cpp sees this header only and defines this
	// class's vtable-helper constructor and destructor; each may destroy every member, so a std::unique_ptr or
	// TUniquePtr member would need the complete type there (defining our own destructor in the .cpp would not
	// help: the constructor remains). TSharedPtr binds its deleter where the object is made, in the .cpp.
	TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe> Worker;
	TSharedPtr<FFacecastLiveLinkSource> LiveLinkSource;
	FString LoggedError;
};
