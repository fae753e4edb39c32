// Receives facecast frames into a transient texture and ARKit blendshape curves (bridge protocol v1).
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"

#include <memory>

#include "FacecastReceiverComponent.generated.h"

namespace facecast { class ZmtpClient; }
class FFacecastLiveLinkSource;
class UTexture2D;

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
	void UploadPicture(const struct FFacecastPicture& Picture);
	void ReportStatus();

	std::unique_ptr<facecast::ZmtpClient> Client;
	TSharedPtr<FFacecastLiveLinkSource> LiveLinkSource;
	FString LoggedError;
};
