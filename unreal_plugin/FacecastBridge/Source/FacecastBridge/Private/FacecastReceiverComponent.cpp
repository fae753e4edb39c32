#include "FacecastReceiverComponent.h"

#include "Engine/Texture2D.h"
#include "FacecastLiveLinkSource.h"
#include "FacecastZmtpClient.h"
#include "ILiveLinkClient.h"
#include "Features/IModularFeatures.h"
#include "IImageWrapper.h"
#include "IImageWrapperModule.h"
#include "Modules/ModuleManager.h"
#include "Misc/DateTime.h"
#include "RenderingThread.h"

DEFINE_LOG_CATEGORY_STATIC(LogFacecast, Log, All);

// A picture handed to the render thread; freed by UpdateTextureRegions' cleanup callback once
// the render thread has copied it, so the game thread may drop its own reference at once.
struct FFacecastPicture
{
	uint32 Width = 0, Height = 0;
	TArray<uint8> Bgra;  // tightly packed B8G8R8A8 rows
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
	Client = std::make_unique<facecast::ZmtpClient>();
	Client->Start(TCHAR_TO_UTF8(*Host), uint16(Port),
	              {bParametersOnly ? facecast::ZmtpClient::kTopicParams : facecast::ZmtpClient::kTopicFrame});
	if (bPublishToLiveLink && IModularFeatures::Get().IsModularFeatureAvailable(ILiveLinkClient::ModularFeatureName))
	{
		ILiveLinkClient& LiveLink = IModularFeatures::Get().GetModularFeature<ILiveLinkClient>(ILiveLinkClient::ModularFeatureName);
		LiveLinkSource = MakeShared<FFacecastLiveLinkSource>(LiveLinkSubject);
		LiveLink.AddSource(LiveLinkSource);
	}
}

void UFacecastReceiverComponent::EndPlay(const EEndPlayReason::Type Reason)
{
	if (Client) Client->Stop();
	Client.reset();
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
	if (!Client) return;
	ReportStatus();
	facecast::Frame Frame;
	if (!Client->TryTakeLatest(Frame)) return;

	const TArray<FName>& Names = ArkitFNames();
	for (int32 i = 0; i < facecast::kNumArkit; ++i)
		BlendShapes.Add(Names[i], Frame.arkit[i]);
	HeadRotationRad = Frame.has_head ? FVector(Frame.head_rad[0], Frame.head_rad[1], Frame.head_rad[2]) : FVector::ZeroVector;
	const int64 NowNs = (FDateTime::UtcNow() - FDateTime(1970, 1, 1)).GetTicks() * 100;
	LatencyMs = float(double(NowNs - Frame.t_capture_ns) / 1e6);
	if (LiveLinkSource) LiveLinkSource->PushFrame(Frame.arkit.data(), facecast::kNumArkit);

	const int Bpp = facecast::BytesPerPixel(Frame.format);
	if (Bpp > 0 && !Frame.payload.empty())
	{
		FFacecastPicture Picture;
		Picture.Width = Frame.width;
		Picture.Height = Frame.height;
		Picture.Bgra.SetNumUninitialized(Frame.width * Frame.height * 4);
		const bool bBgr = Frame.format == facecast::PixelFormat::Bgra8;
		for (uint32 y = 0; y < Frame.height; ++y)
		{
			const uint8* Src = Frame.payload.data() + size_t(y) * Frame.stride;
			uint8* Dst = Picture.Bgra.GetData() + size_t(y) * Frame.width * 4;
			for (uint32 x = 0; x < Frame.width; ++x, Src += Bpp, Dst += 4)
			{
				Dst[0] = bBgr ? Src[0] : Src[2];
				Dst[1] = Src[1];
				Dst[2] = bBgr ? Src[2] : Src[0];
				Dst[3] = Bpp == 4 ? Src[3] : 255;
			}
		}
		UploadPicture(Picture);
	}
	else if (Frame.format == facecast::PixelFormat::Jpeg && !Frame.payload.empty())
	{
		IImageWrapperModule& Wrappers = FModuleManager::LoadModuleChecked<IImageWrapperModule>(TEXT("ImageWrapper"));
		TSharedPtr<IImageWrapper> Jpeg = Wrappers.CreateImageWrapper(EImageFormat::JPEG);
		FFacecastPicture Picture;
		if (Jpeg.IsValid() && Jpeg->SetCompressed(Frame.payload.data(), int64(Frame.payload.size())) &&
		    Jpeg->GetRaw(ERGBFormat::BGRA, 8, Picture.Bgra))
		{
			Picture.Width = uint32(Jpeg->GetWidth());
			Picture.Height = uint32(Jpeg->GetHeight());
			UploadPicture(Picture);
		}
	}
	OnFrame.Broadcast(this);
}

void UFacecastReceiverComponent::UploadPicture(const FFacecastPicture& Picture)
{
	if (!Texture || Texture->GetSizeX() != int32(Picture.Width) || Texture->GetSizeY() != int32(Picture.Height))
	{
		Texture = UTexture2D::CreateTransient(Picture.Width, Picture.Height, PF_B8G8R8A8, TEXT("FacecastFrame"));
		Texture->SRGB = true;
		Texture->UpdateResource();
	}
	// The render thread owns this copy until the cleanup callback runs.
	FFacecastPicture* Owned = new FFacecastPicture(Picture);
	Owned->Region = FUpdateTextureRegion2D(0, 0, 0, 0, Picture.Width, Picture.Height);
	Texture->UpdateTextureRegions(0, 1, &Owned->Region, Picture.Width * 4, 4, Owned->Bgra.GetData(),
		[Owned](uint8*, const FUpdateTextureRegion2D*) { delete Owned; });
}

void UFacecastReceiverComponent::ReportStatus()
{
	const FString Error = UTF8_TO_TCHAR(Client->LastError().c_str());
	Status = Error.IsEmpty() ? FString(UTF8_TO_TCHAR(facecast::ConnectionStateName(Client->State()))) : Error;
	if (!Error.IsEmpty() && Error != LoggedError)
	{
		UE_LOG(LogFacecast, Warning, TEXT("facecast: %s"), *Error);
		LoggedError = Error;
	}
}
