#include "FacecastReceiverComponent.h"

#include "Engine/Texture2D.h"
#include "FacecastLiveLinkSource.h"
#include "FacecastReceiverWorker.h"
#include "ILiveLinkClient.h"
#include "Features/IModularFeatures.h"
#include "Misc/App.h"
#include "Misc/DateTime.h"
#include "RHI.h"
#include "UObject/Package.h"
#include "UObject/UObjectGlobals.h"

DEFINE_LOG_CATEGORY_STATIC(LogFacecast, Log, All);

// A picture handed to the render thread, owned by the copies of UpdateTextureRegions' cleanup callback.
struct FFacecastPicture
{
	FFacecastPicture(TArray64<uint8>&& InBgra, uint32 Width, uint32 Height)
		: Bgra(MoveTemp(InBgra)), Region(0, 0, 0, 0, Width, Height) {}
	TArray64<uint8> Bgra;  // tightly packed B8G8R8A8 rows
	FUpdateTextureRegion2D Region;
};

UFacecastReceiverComponent::UFacecastReceiverComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
	PrimaryComponentTick.TickGroup = TG_PrePhysics;
}

float UFacecastReceiverComponent::GetBlendShape(FName Name) const
{
	const float* Value = BlendShapes.Find(Name);
	return Value ? *Value : 0.f;
}

void UFacecastReceiverComponent::BeginPlay()
{
	Super::BeginPlay();
	// A dedicated server or -nullrhi has nothing to draw pictures on: it takes the parameter feed.
	const bool bPictures = !bParametersOnly && FApp::CanEverRender();
	FFacecastReceiverWorker::Retire(MoveTemp(Worker));
	Worker = FFacecastReceiverWorker::Launch(Host, uint16(FMath::Clamp(Port, 1, 65535)), bPictures);
	if (!Worker)
	{
		LogOnce(TEXT("cannot start the receiver thread"));
	}
	if (bPublishToLiveLink && IModularFeatures::Get().IsModularFeatureAvailable(ILiveLinkClient::ModularFeatureName))
	{
		ILiveLinkClient& LiveLink = IModularFeatures::Get().GetModularFeature<ILiveLinkClient>(ILiveLinkClient::ModularFeatureName);
		LiveLinkSource = MakeShared<FFacecastLiveLinkSource>(LiveLinkSubject);
		LiveLink.AddSource(LiveLinkSource);
	}
}

void UFacecastReceiverComponent::EndPlay(const EEndPlayReason::Type Reason)
{
	// Returns at once: the worker stops and frees its socket on its own thread, and never sees this component.
	FFacecastReceiverWorker::Retire(MoveTemp(Worker));
	if (LiveLinkSource && IModularFeatures::Get().IsModularFeatureAvailable(ILiveLinkClient::ModularFeatureName))
	{
		ILiveLinkClient& LiveLink = IModularFeatures::Get().GetModularFeature<ILiveLinkClient>(ILiveLinkClient::ModularFeatureName);
		LiveLink.RemoveSource(LiveLinkSource);
	}
	LiveLinkSource.Reset();
	Super::EndPlay(Reason);
}

// The ARKit names as FNames, made once (not 52 FName lookups per tick).
static const TArray<FName>& ArkitFNames()
{
	static const TArray<FName> Names = []
	{
		TArray<FName> Out;
		for (int32 i = 0; i < facecast::kNumArkit; ++i) Out.Add(FName(facecast::kArkitNames[i]));
		return Out;
	}();
	return Names;
}

void UFacecastReceiverComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	if (!Worker) return;
	ReportStatus();
	FFacecastReceived Received;
	if (!Worker->TakeLatest(Received)) return;

	const facecast::Frame& Frame = Received.Frame;
	const TArray<FName>& Names = ArkitFNames();
	for (int32 i = 0; i < facecast::kNumArkit; ++i)
		BlendShapes.Add(Names[i], Frame.arkit[i]);
	HeadRotationRad = Frame.has_head ? FVector(Frame.head_rad[0], Frame.head_rad[1], Frame.head_rad[2]) : FVector::ZeroVector;
	const int64 NowNs = (FDateTime::UtcNow() - FDateTime(1970, 1, 1)).GetTicks() * 100;
	LatencyMs = float(double(NowNs - Frame.t_capture_ns) / 1e6);
	MouthSource = UTF8_TO_TCHAR(Frame.mouth.c_str());
	if (LiveLinkSource) LiveLinkSource->PushFrame(Frame.arkit.data(), facecast::kNumArkit);

	// The worker decoded and converted the picture; the pixels are moved, not copied, from here on.
	if (Received.Bgra.Num() > 0) UploadPicture(MoveTemp(Received));
	OnFrame.Broadcast(this);
}

void UFacecastReceiverComponent::UploadPicture(FFacecastReceived&& Received)
{
	// Without a renderer (dedicated server, -nullrhi) a texture has no resource, and UpdateTextureRegions drops
	// the update without calling the cleanup callback below: nothing to show, and a leak per frame.
	if (!FApp::CanEverRender()) return;
	const uint32 Width = Received.Width, Height = Received.Height;
	if (!Texture || Texture->GetSizeX() != int32(Width) || Texture->GetSizeY() != int32(Height))
	{
		// A unique name: one texture per receiver and size. CreateTransient with a fixed name would replace
		// another receiver's texture (or this one's, on a resize) in the transient package.
		const FName Name = MakeUniqueObjectName(GetTransientPackage(), UTexture2D::StaticClass(), FName(TEXT("FacecastFrame")));
		UTexture2D* NewTexture = UTexture2D::CreateTransient(int32(Width), int32(Height), PF_B8G8R8A8, Name);
		if (!NewTexture)
		{
			LogOnce(FString::Printf(TEXT("cannot create a %ux%u texture"), Width, Height));
			return;
		}
		NewTexture->SRGB = true;
		NewTexture->UpdateResource();
		Texture = NewTexture;
	}
	if (!Texture->GetResource()) return;  // as above
	// The callback holds the pixels (moved, not copied): its copy in the render command keeps them until the
	// update has run. Should UpdateTextureRegions not queue one (no resource, a streamed or virtual texture),
	// it never calls the callback, but dropping the callback frees them all the same: nothing leaks.
	const TSharedRef<FFacecastPicture, ESPMode::ThreadSafe> Picture =
		MakeShared<FFacecastPicture, ESPMode::ThreadSafe>(MoveTemp(Received.Bgra), Width, Height);
	Texture->UpdateTextureRegions(0, 1, &Picture->Region, Width * 4, 4, Picture->Bgra.GetData(),
		[Picture](uint8*, const FUpdateTextureRegion2D*) {});
}

void UFacecastReceiverComponent::ReportStatus()
{
	const FString Error = UTF8_TO_TCHAR(Worker->LastError().c_str());
	Status = Error.IsEmpty() ? FString(UTF8_TO_TCHAR(facecast::ConnectionStateName(Worker->State()))) : Error;
	if (!Error.IsEmpty()) LogOnce(Error);
}

void UFacecastReceiverComponent::LogOnce(const FString& Error)
{
	if (Error != LoggedError)
	{
		UE_LOG(LogFacecast, Warning, TEXT("facecast: %s"), *Error);
		LoggedError = Error;
	}
}
